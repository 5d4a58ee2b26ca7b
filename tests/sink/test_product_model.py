"""The product model is defined once: the schema, the records the parser publishes and the storage tables agree.

Lives beside the sink's tests for their per-backend database fixture; the model is ``stages/core/product.py``.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from stages.core.errors import BadMessage
from stages.core.product import COLUMNS, Product
from stages.core.schemas import validate
from tests.conftest import ROOT
from tests.sink.storage_helpers import Database, started

SCHEMA = json.loads((ROOT / "schemas/product.schema.json").read_text())
# The JSON Schema type of each field annotation the model uses.
SCHEMA_TYPES = {"str": "string", "str | None": ["string", "null"], "bool": "boolean",
                "Decimal | None": ["string", "null"], "datetime": "string", "tuple[str, ...]": "array"}


def example(**changes: object) -> Product:
    values: dict[str, object] = dict(
        id="p1", site="shop", url="https://shop.example/p/1", title="Kettle", price=Decimal("19.90"),
        currency="EUR", price_raw="19,90 €", price_ok=True, availability="InStock", image=None, sku="K-1",
        page_url="https://shop.example/list/1", fetched_at=datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC),
        parsed_at=datetime(2026, 11, 30, 8, 0, 1, tzinfo=UTC), parser_version="0.1.0", method="json-ld",
        regular_price=Decimal("24.90"), brand="Acme", images=("https://shop.example/k.jpg",))
    values.update(changes)
    return Product(**values)  # type: ignore[arg-type]


def test_the_schema_has_exactly_the_models_fields_with_their_types():
    properties = SCHEMA["properties"]
    assert list(properties) == list(COLUMNS)
    for field in fields(Product):
        assert properties[field.name]["type"] == SCHEMA_TYPES[str(field.type)], field.name
        if field.type == "datetime":
            assert properties[field.name]["format"] == "date-time"
        if field.type == "Decimal | None":
            assert "pattern" in properties[field.name], f"{field.name} must be held to a decimal pattern"
    defaulted = {field.name for field in fields(Product) if field.default is not MISSING}
    assert set(SCHEMA["required"]) <= set(COLUMNS) - defaulted
    assert SCHEMA["additionalProperties"] is False


def test_a_published_record_validates_and_reads_back_as_the_same_product():
    product = example()
    record = orjson.loads(product.to_json())
    validate("product", record)
    assert record["price"] == "19.90" and record["fetched_at"] == "2026-11-30T08:00:00.123456Z"
    assert Product.from_record(record) == product


def test_a_record_that_breaks_a_field_is_refused_naming_the_product_and_the_field():
    record = orjson.loads(example().to_json())
    with pytest.raises(BadMessage, match="product 'p1': field 'fetched_at'"):
        Product.from_record({**record, "fetched_at": "yesterday"})
    with pytest.raises(BadMessage, match="field 'price' is 'NaN'"):
        Product.from_record({**record, "price": "NaN"})


async def test_every_backend_stores_exactly_the_models_columns(db: Database):
    async with started(db.url) as storage:
        await storage.write_batch([orjson.loads(example().to_json())])
    rows = await db._fetch("SELECT * FROM products")
    # SQLite adds one column of its own, derived from price: an exact integer it compares numerically. Both
    # keep when a recrawl found the product gone (a discontinued record, not a product field).
    derived = {"sqlite": {"price_micros"}, "postgresql": set()}[db.kind] | {"discontinued_at"}
    assert set(rows[0]) == set(COLUMNS) | derived
    assert json.loads(rows[0]["images"]) == ["https://shop.example/k.jpg"]
