"""Message validation against the JSON Schemas in ``schemas/``, compiled once.

jsonschema-rs validates in Rust, so the sink can validate every record it
reads.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from stages.core.errors import SchemaError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def validator(name: str) -> Any:
    """The compiled validator of ``schemas/<name>.schema.json``; formats (``date-time``: RFC 3339) are checked."""
    schema = orjson.loads((SCHEMA_DIR / f"{name}.schema.json").read_bytes())
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def json_path(path: Sequence[str | int]) -> str:
    """``site[1].hosts`` for the instance path ``["site", 1, "hosts"]``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def validate(name: str, document: Any) -> Any:
    """Return ``document`` if it matches schema ``name``; raise SchemaError saying where it does not."""
    try:
        validator(name).validate(document)
    except jsonschema_rs.ValidationError as exc:
        where = json_path(exc.instance_path) or "the document"
        raise SchemaError(f"{name}: {where}: {exc.message}") from exc
    return document
