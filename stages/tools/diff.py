"""What a rule change would do: stored product records against re-parsed ones, field by field.

Pure comparison for ``crawlpipe replay --dry-run``: no I/O, so the rules for
what counts as a change are tested on their own. Fields that differ on every
re-parse whatever the rules (``parsed_at``, ``parser_version``) or that a
replay cannot change (``fetched_at``) are not compared, or every product would
show as changed. Prices compare as decimals, so ``12.50`` stored by PostgreSQL
and ``12.5`` are the same price.

A re-parsed record only changes a row if the sink would write it: the sink's
upsert rule is that the newest fetch wins (``fetched_at``, then ``parsed_at``),
so a replayed page older than the stored row's fetch changes nothing, and
``sink_would_keep`` sets such records aside before the comparison.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Record = Mapping[str, Any]

COMPARED_FIELDS = (
    "site", "url", "title", "price", "currency", "price_raw", "price_ok", "availability", "image", "sku",
    "page_url", "method",
)


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class ProductsDiff:
    """Product ids by outcome; ``changed`` maps an id to its changed fields in ``COMPARED_FIELDS`` order."""

    changed: dict[str, list[FieldChange]]
    gained: list[str]
    lost: list[str]
    unchanged: int

    def field_counts(self) -> Counter[str]:
        """How many products each field changed in."""
        return Counter(change.field for changes in self.changed.values() for change in changes)


def sink_would_keep(old: Mapping[str, Record], new: Mapping[str, Record]) -> tuple[dict[str, Record], list[str]]:
    """``new`` as the sink would apply it to ``old``: a record not newer than the stored row is replaced by it.

    Returns the effective records and the ids whose re-parsed record the sink would skip as stale.
    """
    effective: dict[str, Record] = {}
    stale: list[str] = []
    for product_id, record in new.items():
        stored = old.get(product_id)
        if stored is not None and _version(record) <= _version(stored):
            effective[product_id] = stored
            stale.append(product_id)
        else:
            effective[product_id] = record
    return effective, sorted(stale)


def _version(record: Record) -> tuple[datetime, datetime]:
    """(fetched_at, parsed_at) as aware instants: SQLite gives text, PostgreSQL datetimes."""
    return (_instant(record["fetched_at"]), _instant(record["parsed_at"]))


def _instant(value: str | datetime) -> datetime:
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return instant.astimezone(UTC)


def diff_products(old: Mapping[str, Record], new: Mapping[str, Record]) -> ProductsDiff:
    """Compare records by product id: the ids only in ``new`` are gained, only in ``old`` lost."""
    changed: dict[str, list[FieldChange]] = {}
    unchanged = 0
    for product_id in sorted(old.keys() & new.keys()):
        changes = field_changes(old[product_id], new[product_id])
        if changes:
            changed[product_id] = changes
        else:
            unchanged += 1
    return ProductsDiff(
        changed=changed,
        gained=sorted(new.keys() - old.keys()),
        lost=sorted(old.keys() - new.keys()),
        unchanged=unchanged,
    )


def field_changes(old: Record, new: Record) -> list[FieldChange]:
    return [
        FieldChange(name, old.get(name), new.get(name))
        for name in COMPARED_FIELDS
        if not _same(name, old.get(name), new.get(name))
    ]


def _same(name: str, old: Any, new: Any) -> bool:
    if name == "price" and old is not None and new is not None:
        try:
            return Decimal(str(old)) == Decimal(str(new))
        except InvalidOperation:
            return str(old) == str(new)
    return old == new


def render(diff: ProductsDiff, old: Mapping[str, Record], new: Mapping[str, Record]) -> list[str]:
    """The diff as lines for a terminal: a field tally, then one line per changed, gained and lost product."""
    lines = [f"changed: {len(diff.changed)} products"
             + "".join(f", {name} in {count}" for name, count in diff.field_counts().most_common())]
    for product_id, changes in diff.changed.items():
        detail = "; ".join(f"{c.field} {c.old!r} → {c.new!r}" for c in changes)
        lines.append(f"  ~ {product_id} {new[product_id].get('url')}: {detail}")
    lines.append(f"gained: {len(diff.gained)} products")
    lines += [f"  + {pid} {new[pid].get('url')} {new[pid].get('title')!r}" for pid in diff.gained]
    lines.append(f"lost: {len(diff.lost)} products")
    lines += [f"  - {pid} {old[pid].get('url')} {old[pid].get('title')!r}" for pid in diff.lost]
    lines.append(f"unchanged: {diff.unchanged} products")
    return lines
