"""Message validation against the JSON Schemas in ``schemas/``, compiled once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from stages.core.errors import SchemaError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def _validator(name: str) -> Callable[[Any], Any]:
    schema = orjson.loads((SCHEMA_DIR / f"{name}.schema.json").read_bytes())
    return fastjsonschema.compile(schema, formats={"date-time": r"^\d{4}-\d{2}-\d{2}T"})


def validate(name: str, document: Any) -> Any:
    """Return ``document`` if it matches schema ``name``; raise SchemaError saying where it does not."""
    try:
        return _validator(name)(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise SchemaError(f"{name}: {exc.message}") from exc
