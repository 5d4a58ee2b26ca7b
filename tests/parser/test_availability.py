"""Stock text and schema.org values to "InStock" / "OutOfStock" / None."""

from __future__ import annotations

import pytest

from stages.parser.availability import normalise_availability


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("In stock", "InStock"),
        ("Only 3 left in stock", "InStock"),
        ("https://schema.org/InStock", "InStock"),
        ("http://schema.org/LimitedAvailability", "InStock"),
        ("instock", "InStock"),
        ("in_stock", "InStock"),
        ("Auf Lager", "InStock"),
        ("в наличии", "InStock"),
        ("Sold out", "OutOfStock"),
        ("Out of Stock", "OutOfStock"),
        ("Currently unavailable", "OutOfStock"),
        ("Not available online", "OutOfStock"),  # "available" inside a negative phrase
        ("https://schema.org/Discontinued", "OutOfStock"),
        ("Nicht lieferbar", "OutOfStock"),
        ("https://schema.org/PreOrder", None),
        ("Ships in spring", "InStock"),
        ("Colour: red", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_availability(value: str | None, expected: str | None) -> None:
    assert normalise_availability(value) == expected
