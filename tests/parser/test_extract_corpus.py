"""The labelled extraction corpus is what its generator writes, and covers what issue #19 asks of it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import orjson

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "extract"


def _generator():
    spec = importlib.util.spec_from_file_location("corpus_generate", CORPUS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_committed_pages_and_labels_are_what_the_seeded_generator_writes(tmp_path: Path) -> None:
    _generator().generate(tmp_path)
    assert (tmp_path / "labels.jsonl").read_bytes() == (CORPUS / "labels.jsonl").read_bytes()
    written = sorted(path.name for path in (tmp_path / "pages").glob("*.html"))
    assert written == sorted(path.name for path in (CORPUS / "pages").glob("*.html"))
    for name in written:
        assert (tmp_path / "pages" / name).read_bytes() == (CORPUS / "pages" / name).read_bytes(), name


def test_corpus_spans_enough_families_languages_and_currencies() -> None:
    pages = [orjson.loads(line) for line in (CORPUS / "labels.jsonl").read_bytes().splitlines()]
    products = [product for page in pages for product in page["products"]]
    assert len(pages) >= 120
    assert len({page["family"] for page in pages}) >= 20
    assert len({page["language"].split("-")[0] for page in pages}) >= 8
    assert len({product["currency"] for product in products} - {None}) >= 10
    assert any(not page["products"] for page in pages) and any(len(page["products"]) > 1 for page in pages)
