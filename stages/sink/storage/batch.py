"""The write rules both SQL backends share, decided in Python so they cannot drift apart.

1. Duplicate ids inside one batch collapse to the newest record (by
   ``Product.version``: fetched_at, then parsed_at) before anything is written.
2. Inside the batch's transaction, with the batch's ids locked, the backend
   reads the stored rows for those ids and ``plan_batch`` sorts every record
   into: insert (id unseen), update (strictly newer than the stored row), or
   stale (not newer: never written).
3. A ``price_history`` row is planned for every insert and for every update
   whose price, currency or availability differs from the stored row, never for
   a stale record. Prices compare as decimals, so ``10.0`` and ``10.00`` are
   the same price.

The backends still put the staleness rule in the upsert's ``WHERE`` clause, so
the database itself never lets an older record overwrite a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from stages.sink.storage.base import BatchResult
from stages.core.product import Observation, Product, Version


@dataclass(frozen=True, slots=True)
class StoredState:
    """The part of a stored ``products`` row the write rules look at."""

    price: Decimal | None
    currency: str | None
    availability: str | None
    fetched_at: datetime
    parsed_at: datetime

    @property
    def version(self) -> Version:
        return (self.fetched_at, self.parsed_at)

    @property
    def observation(self) -> Observation:
        return (self.price, self.currency, self.availability)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What to write in one transaction, and what ``write_batch`` reports once it is committed."""

    upserts: list[Product]
    history: list[Product]
    result: BatchResult


def newest_per_id(products: Iterable[Product]) -> list[Product]:
    """Keep one product per id, the newest; the order of first appearance is kept."""
    newest: dict[str, Product] = {}
    for product in products:
        seen = newest.get(product.id)
        if seen is None or product.version > seen.version:
            newest[product.id] = product
    return list(newest.values())


def plan_batch(
    products: Iterable[Product], stored: Mapping[str, StoredState], *, duplicates: int
) -> BatchPlan:
    """Sort collapsed ``products`` against the ``stored`` rows read inside the same transaction."""
    upserts: list[Product] = []
    history: list[Product] = []
    inserted = updated = stale = 0
    for product in products:
        current = stored.get(product.id)
        if current is None:
            inserted += 1
            upserts.append(product)
            history.append(product)
        elif product.version > current.version:
            updated += 1
            upserts.append(product)
            if product.observation != current.observation:
                history.append(product)
        else:
            stale += 1
    result = BatchResult(
        inserted=inserted,
        updated=updated,
        stale_skipped=stale,
        duplicates=duplicates,
        history_rows=len(history),
    )
    return BatchPlan(upserts=upserts, history=history, result=result)
