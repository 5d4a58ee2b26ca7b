"""LabelPattern.search finds the same leftmost match as the pattern's own search, on real pages and on texts built
to trip it (label words inside other words, a non-matching label before a matching one, every label of every
pattern)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from stages.parser.labels import BRAND, GTIN, MPN, SKU, LabelPattern

PATTERNS = {"sku": SKU, "gtin": GTIN, "mpn": MPN, "brand": BRAND}
PAGES = Path(__file__).resolve().parents[1] / "fixtures/extract/pages"
# Every alternative of the four patterns, spelled as a page would, and words that only begin like one.
LABELS = ("SKU", "SKU:", "Art.-Nr.", "ArtNr", "Art-Nr.", "Artikelnummer", "Artikelnr.", "Item #", "Item No.",
          "Item number", "Product code", "Référence", "Réf.", "Ref.", "Codice", "Kod produktu", "Código", "Varenr.",
          "Kód", "品番", "Артикул", "EAN", "EAN-13", "GTIN14", "UPC", "JAN", "MPN", "Herstellernummer",
          "Manufacturer part number", "Part number", "Brand:", "Marke:", "Marque :", "Marca:", "Marka:", "Merk:",
          "Märke:", "Mærke:", "Značka:", "Бренд:", "ブランド:", "Marketing", "Artisan", "Items", "SKUs", "xSKU",
          "Branded", "EANx", "Referenced")
VALUES = ("AB-1204", "4006381333931", "Lumio", "x", "12", "Acme & Co.", "L-204-B", "  ", ": ", "#")


def built_texts(count: int) -> list[str]:
    rng = random.Random(17)
    texts = []
    for _ in range(count):
        words = [rng.choice((rng.choice(LABELS), rng.choice(VALUES), "the", "price", "9,99 €", "\n",
                             rng.choice(LABELS) + rng.choice(("", " ", ": ", "#")) + rng.choice(VALUES)))
                 for _ in range(rng.randint(1, 30))]
        texts.append(rng.choice((" ", "", "  ")).join(words))
    return texts


def page_texts() -> list[str]:
    texts = []
    for path in sorted(PAGES.rglob("*.html")):
        body = LexborHTMLParser(path.read_bytes()).body
        if body is not None:
            texts.append(body.text(separator=" "))
    return texts


def span(match: re.Match[str] | None) -> tuple[int, int, str] | None:
    return None if match is None else (match.start(), match.end(), match["value"])


@pytest.mark.parametrize("name", PATTERNS)
def test_same_match_as_the_pattern_search(name: str) -> None:
    label: LabelPattern = PATTERNS[name]
    texts = built_texts(3_000) + page_texts()
    found = 0
    for text in texts:
        expected = span(label.pattern.search(text))
        assert span(label.search(text)) == expected, text
        found += expected is not None
    assert found > 30  # the built texts do exercise the matching side


def test_a_label_word_inside_another_word_is_passed_over() -> None:
    assert span(BRAND.search("Marketing: great. Brand: Lumio")) == (18, 30, "Lumio")
    assert span(SKU.search("xSKU: 12345 then SKU: AB-1")) == (17, 26, "AB-1")
    assert GTIN.search("EANx 4006381333931") is None
