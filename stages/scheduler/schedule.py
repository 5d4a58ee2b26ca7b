"""What one products-topic record does to its product's schedule entry, decided in Python for every backend.

1. A record not newer than the entry (``fetched_at`` at or before the entry's
   last visit: a redelivery or a replay) changes nothing, so at-least-once
   delivery never shortens or lengthens an interval twice.
2. A product record makes or refreshes the entry: misses back to zero, the
   interval adapted (``policy.py``), due one interval after the visit.
3. A discontinued record (``"discontinued": true``) counts a miss and asks for
   a re-check one site minimum later; at ``max_misses`` misses in a row the
   entry stays, but is due never again (until a product record revives it). A
   discontinued record for a product never scheduled is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from stages.core.messages import host_key
from stages.scheduler.policy import Policy, changed


@dataclass(frozen=True, slots=True)
class Entry:
    """One product's row of the schedule. Times are UNIX seconds; ``due_at`` None: no longer scheduled."""

    product_id: str
    url: str
    host: str
    site: str
    price: str | None
    availability: str | None
    visited_at: float
    interval_seconds: float
    due_at: float | None
    misses: int = 0


@dataclass(frozen=True, slots=True)
class Planned:
    """A batch's entries to write, and what the batch did, for the metrics."""

    entries: list[Entry]
    #: Records that changed nothing: not newer than the entry, or discontinued products never scheduled.
    ignored: int = 0
    misses: int = 0
    given_up: int = 0


def plan_batch(records: Iterable[Mapping[str, Any]], stored: Mapping[str, Entry], policy: Policy) -> Planned:
    """The entries ``records`` (in order) make of the ``stored`` ones; see the module docstring for the rules."""
    current = dict(stored)
    touched: dict[str, Entry] = {}
    ignored = misses = given_up = 0
    for record in records:
        before = current.get(record["id"])
        visited = _instant(record["fetched_at"])
        if before is not None and visited <= before.visited_at:
            ignored += 1
            continue
        if record.get("discontinued"):
            if before is None:
                ignored += 1
                continue
            entry = _missed(before, visited, policy)
            misses += 1
            given_up += entry.due_at is None
        else:
            entry = _visited(record, before, visited, policy)
        current[entry.product_id] = touched[entry.product_id] = entry
    return Planned(list(touched.values()), ignored=ignored, misses=misses, given_up=given_up)


def _visited(record: Mapping[str, Any], before: Entry | None, visited: float, policy: Policy) -> Entry:
    host = host_key(record["url"]).decode()
    bounds = policy.bounds(record["site"], host)
    price, availability = record.get("price"), record.get("availability")
    if before is None:
        interval = policy.first(bounds)
    else:
        interval = policy.next(before.interval_seconds, bounds,
                               changed=changed(price, availability, before.price, before.availability))
    return Entry(product_id=record["id"], url=record["url"], host=host, site=record["site"], price=price,
                 availability=availability, visited_at=visited, interval_seconds=interval,
                 due_at=visited + interval)


def _missed(before: Entry, visited: float, policy: Policy) -> Entry:
    misses = before.misses + 1
    recheck = policy.bounds(before.site, before.host).shortest
    return replace(before, visited_at=visited, misses=misses,
                   due_at=None if misses >= policy.max_misses else visited + recheck)


def _instant(text: str) -> float:
    """A record's ``fetched_at`` (ISO 8601, UTC) as UNIX seconds."""
    return datetime.fromisoformat(text).timestamp()
