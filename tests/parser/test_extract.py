"""extract_page: one raw page in, merged products and links to follow out."""

from __future__ import annotations

import pytest

from stages.parser.extract import Extraction, extract_page
from stages.parser.prices import Price
from stages.parser.rules import SiteRules, load_rules

from . import FIXTURES
from .listing_page import listing_page

SHOP = load_rules(FIXTURES / "rules" / "shop.toml")
CHARSETS = load_rules(FIXTURES / "rules" / "charsets.toml").sites[0]


def extract(name: str, url: str, rules: SiteRules | None, charset: str | None = None) -> Extraction:
    return extract_page((FIXTURES / name).read_bytes(), url=url, header_charset=charset, rules=rules)


def test_a_rules_listing() -> None:
    page = extract("listing_rules.html", "https://shop.example.com/catalog/kettles?page=2",
                   SHOP.for_host("shop.example.com"), "utf-8")
    classic, electric, travel = page.products
    # Relative links resolve against <base href>, fragments are dropped.
    assert classic.url == "https://shop.example.com/catalog/kettle-classic?color=steel"
    assert classic.image == "https://shop.example.com/catalog/img/k100.jpg"
    assert classic.title == "Classic Stovetop Kettle"
    assert classic.price == Price(amount="49.99", currency="USD", raw="$49.99", ok=True)  # split over spans
    assert (classic.sku, classic.availability, classic.method) == ("K-100", "InStock", "rules")
    assert (electric.title, electric.price.amount) == ("Electric Kettle 1.7 L", "1234.50")  # range: lower bound
    assert electric.image is None  # a data: placeholder is not an image URL
    assert electric.availability == "OutOfStock"
    assert (travel.price.ok, travel.price.raw, travel.price.currency) == (False, "Call for price", "USD")
    assert travel.url == "https://shop.example.com/catalog/kettle%20travel"
    assert page.products_skipped == 1  # the gift card has neither link nor SKU
    assert page.links == [
        "https://shop.example.com/catalog/kettles?page=3",
        "https://shop.example.com/catalog/teapots",
        "https://shop.example.com/catalog/cups",
        "https://blog.example.org/tea",  # off-site: following it is the stage's decision
        "https://shop.example.com/catalog/kettle-classic?color=steel",
        "https://shop.example.com/catalog/kettle-electric",
        "https://shop.example.com/catalog/kettle%20travel",
    ]
    assert (page.encoding, page.structured_errors) == ("utf-8", 0)


def test_rules_win_and_structured_data_fills_the_gaps() -> None:
    page = extract("mixed.html", "https://mixed.example.net/chairs", SHOP.for_host("mixed.example.net"))
    folding, deck, rocking = page.products
    # Matched by canonical URL (the JSON-LD query is in another order).
    assert folding.url == "https://mixed.example.net/chairs/folding?a=1&b=2"
    assert folding.title == "Folding Chair" and folding.method == "rules"
    assert folding.image == "https://mixed.example.net/img/folding-large.jpg"  # rules' own, not JSON-LD's
    assert (folding.sku, folding.availability) == ("FC-1", "InStock")  # filled in
    assert (folding.price.amount, folding.price.currency) == ("19.99", "USD")  # same amount: currency filled
    assert (deck.price.amount, deck.price.raw, deck.sku) == ("44.00", "$44.00", "DC-2")  # rules price wins
    assert (rocking.title, rocking.method, rocking.price.amount) == ("Rocking Chair", "json-ld", "120.00")


def test_a_detail_page_product_takes_the_canonical_url() -> None:
    page = extract("jsonld_graph.html", "https://roasters.example/products/cafe-grinder?from=list", None)
    (product,) = page.products
    assert product.url == "https://roasters.example/products/cafe-grinder?utm_source=feed&b=2&a=1"


def test_a_detail_page_without_canonical_link_takes_the_page_url() -> None:
    body = b'<meta property="og:type" content="product"><meta property="og:title" content="Mug">'
    page = extract_page(body, url="https://mugs.example/p/1#top", header_charset=None, rules=None)
    assert [(p.title, p.url) for p in page.products] == [("Mug", "https://mugs.example/p/1")]


def test_generic_pagination_without_rules() -> None:
    page = extract("jsonld_itemlist.html", "https://lights.example/lamps", None)
    assert page.links == ["https://lights.example/lamps?page=2"]
    assert len(page.products) == 3 and page.structured_errors == 1


def test_microdata_and_opengraph_pages_without_rules() -> None:
    microdata = extract("microdata.html", "https://werkzeug.example/liste", None)
    assert [p.sku for p in microdata.products] == ["AS-18", "WB-2"]
    opengraph = extract("opengraph.html", "https://threads.example/shirts/linen-sand", None)
    assert [p.method for p in opengraph.products] == ["opengraph"]


def test_broken_html_is_parsed_the_way_a_browser_would() -> None:
    rules = load_rules(FIXTURES / "rules" / "broken.toml").sites[0]
    page = extract("broken.html", "https://tools.example.com/c", rules)
    assert [p.sku for p in page.products] == ["B1", "B2", "B3"]
    hammer = page.products[0]
    assert (hammer.title, hammer.price.amount, hammer.url) == (
        "Hammer XL", "12.50", "https://tools.example.com/tools/hammer-xl")
    assert page.products[2].url == "https://tools.example.com/tools/level"


@pytest.mark.parametrize(
    ("name", "charset", "encoding", "title", "amount", "currency"),
    [
        ("cp1251_meta.html", "utf-8", "cp1251", "Чайник электрический «Заря»", "1299", "RUB"),
        ("latin1_meta.html", "utf-8", "cp1252", "Set à crème brûlée", "12.50", "EUR"),
        ("nocharset_latin1.html", None, "cp1252", "Café au lait bowl", "7.50", "GBP"),
        ("nocharset_utf8.html", None, "utf-8", "Café au lait bowl", "7.50", "GBP"),
    ],
)
def test_pages_in_other_encodings(name: str, charset: str | None, encoding: str, title: str, amount: str,
                                  currency: str) -> None:
    page = extract(name, "https://x.example/c", CHARSETS, charset)
    (product,) = page.products
    assert (page.encoding, product.title, product.price.amount, product.price.currency) == (
        encoding, title, amount, currency)


@pytest.mark.parametrize("body", [b"", b"<html><body><p>Nothing to see</p></body></html>", b"\x00\xff\xfe<<<"])
def test_a_page_with_nothing_is_an_empty_extraction(body: bytes) -> None:
    for rules in (None, SHOP.for_host("shop.example.com")):
        page = extract_page(body, url="https://shop.example.com/", header_charset=None, rules=rules)
        assert (page.products, page.links, page.structured_errors, page.products_skipped) == ([], [], 0, 0)


def test_the_benchmark_page_yields_all_its_products() -> None:
    rules = load_rules(FIXTURES / "rules" / "bench.toml").sites[0]
    page = extract_page(listing_page(), url="https://www.example.com/c/widgets?page=2", header_charset="utf-8",
                        rules=rules)
    assert len(page.products) == 40 and len(listing_page()) > 55_000
    assert all(p.price.ok and p.url and p.sku and p.image for p in page.products)
    assert page.links == ["https://www.example.com/c/widgets?page=3"]
