"""Discontinued records in the SQL backends: the product's ``discontinued_at`` (schemas/discontinued.schema.json).

The rules both backends share:

1. A batch's product records are upserted first. An upsert clears
   ``discontinued_at`` unless the product was found gone after the fetch the
   record comes from (``CLEAR_ON_UPSERT``): a product that comes back is on
   sale again, a late record from before it went is not.
2. Then each discontinued record sets ``discontinued_at`` to its
   ``fetched_at`` on the stored row, if the row's last product record was not
   fetched after it; an already discontinued product keeps the time it was
   first found gone. A product never stored has no row to mark: the record
   counts as stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from stages.core.errors import BadMessage
from stages.sink.storage.base import BatchResult

# The SET clause an upsert of a product record adds (both backends name the stored row "products").
CLEAR_ON_UPSERT = (
    "discontinued_at = CASE WHEN products.discontinued_at > excluded.fetched_at "
    "THEN products.discontinued_at ELSE NULL END"
)


@dataclass(frozen=True, slots=True)
class Discontinued:
    """One discontinued record, as the storages need it."""

    id: str
    fetched_at: datetime


def is_discontinued(record: dict[str, Any]) -> bool:
    """The products topic's second record shape is told apart by ``"discontinued": true``."""
    return record.get("discontinued") is True


def split(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Discontinued]]:
    """The batch's product records, and its discontinued records collapsed to the earliest per id."""
    products, gone = [], []
    for record in records:
        if is_discontinued(record):
            gone.append(_parsed(record))
        else:
            products.append(record)
    return products, _earliest_per_id(gone)


def _parsed(record: dict[str, Any]) -> Discontinued:
    try:
        return Discontinued(record["id"], datetime.fromisoformat(record["fetched_at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadMessage(f"discontinued record {record.get('id')!r}: {exc!r}", error_class="bad_product") from exc


def _earliest_per_id(gone: Iterable[Discontinued]) -> list[Discontinued]:
    earliest: dict[str, Discontinued] = {}
    for record in gone:
        seen = earliest.get(record.id)
        if seen is None or record.fetched_at < seen.fetched_at:
            earliest[record.id] = record
    return list(earliest.values())


def with_discontinued(result: BatchResult, *, marked: int, records: int) -> BatchResult:
    """``result`` with the batch's ``records`` discontinued records counted: ``marked`` rows, the rest stale."""
    return replace(result, discontinued=marked, stale_skipped=result.stale_skipped + records - marked)
