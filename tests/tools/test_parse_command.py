"""``crawlpipe parse``: one saved page in, the parser stage's records and their sources out."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import orjson
import pytest

from stages.cli import main
from stages.parser.extract import extract_page
from stages.parser.rules import load_rules

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "extract" / "pages"
PARSER_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parser"
SALE_PAGE = CORPUS / "markup_regular_visible_sale-2.html"
SALE_URL = "https://www.lojaaurora.ch/products/falk-wireless-coffee-grinder-2.0"


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_table_shows_each_field_with_how_it_was_found(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--url", SALE_URL, str(SALE_PAGE)]) == 0
    out = capsys.readouterr().out
    assert "product 1 of 1" in out and "(method json-ld)" in out
    price_line = next(line for line in out.splitlines() if line.split()[0] == "price")
    assert price_line.split()[1] == "30.99"
    assert "visible sale price; the markup price is the struck regular price" in price_line
    assert out.rstrip().endswith("0 products skipped (no URL or SKU)")


def test_json_lines_from_gzip_on_stdin_are_the_stage_records(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(gzip.compress(SALE_PAGE.read_bytes())))
    assert main(["parse", "--json", "--url", SALE_URL, "-"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    parsed = orjson.loads(line)
    expected = extract_page(SALE_PAGE.read_bytes(), url=SALE_URL, header_charset=None, rules=None).products[0]
    assert parsed["record"]["price"] == expected.price.amount == "30.99"
    assert (parsed["record"]["regular_price"], parsed["record"]["currency"]) == ("39.00", "CHF")
    assert parsed["sources"]["title"] == "json-ld"


def test_rules_file_products_name_their_selectors(capsys: pytest.CaptureFixture[str]) -> None:
    page = PARSER_FIXTURES / "listing_rules.html"
    rules = PARSER_FIXTURES / "rules" / "shop.toml"
    assert main(["parse", "--url", "https://shop.example.com/catalog/kettles", "--rules", str(rules),
                 str(page)]) == 0
    out = capsys.readouterr().out
    site = load_rules(rules).for_host("shop.example.com")
    assert site is not None and site.item is not None
    assert f"rules: {site.item} " in out and out.count("(method rules)") == 3


def test_a_page_with_no_product_prints_no_record(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    page = tmp_path / "about.html"
    page.write_text("<html><body><h1>About us</h1><p>Since 1999.</p></body></html>")
    assert main(["parse", "--json", "--url", "https://shop.example/about", str(page)]) == 0
    assert capsys.readouterr().out == ""


def test_broken_gzip_and_missing_files_are_clear_errors(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b"\x1f\x8b not really gzip"))
    assert main(["parse", "--url", "https://shop.example/p", "-"]) == 1
    assert "bad_gzip" in capsys.readouterr().err
    assert main(["parse", "--url", "https://shop.example/p", str(tmp_path / "missing.html")]) == 2
    assert "cannot read page" in capsys.readouterr().err
