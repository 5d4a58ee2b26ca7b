"""Followed links that another parser replica already sent: skipped here, where one host's URLs meet.

Each parser replica filters the links it publishes (``stages/core/seen.py``),
but it sees only its own pages: with several replicas, a link that pages on
two of them carry is published twice. ``crawl.urls`` is keyed by host, so every
copy of a URL lands in the same partition and reaches the same fetcher, which
keeps one fixed-size filter of the URLs it took on and skips a repeat before
fetching it.

Only followed links (depth above 0) are skipped: a seed published again is a
request to fetch it again. A seed's URL still goes into the filter, so links
back to it are not followed. Messages that this stage sent back to itself
(retries and deferrals carry ``not_before``) pass, or a URL would never get its
second try. After a rebalance the new owner of a partition starts without the
previous owner's history, so a repeat that arrives then is fetched once more:
duplicates stay bounded by what is published around a rebalance.
"""

from __future__ import annotations

from typing import Any

from stages.core.seen import BloomFilter


class RepeatFilter:
    """Decides whether a URL message is a followed link this fetcher has already taken on."""

    def __init__(self, capacity: int, error_rate: float) -> None:
        self._taken = BloomFilter(capacity, error_rate)

    @property
    def size_bytes(self) -> int:
        return self._taken.size_bytes

    def is_repeat(self, message: dict[str, Any]) -> bool:
        """Take ``message`` on, or say it is a repeat of a followed link."""
        if "not_before" in message:
            return False
        return self._taken.add(message["url"]) and message["depth"] > 0
