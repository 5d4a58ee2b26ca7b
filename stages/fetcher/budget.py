"""How many URL messages one host may send back to the URL topic per minute.

Deferrals and retries travel through Kafka so that waiting URLs hold no
memory; unbounded, they are also how one stuck host floods the topic (issue
#18: 1,213 messages for 70 URLs). Past its budget a host's URLs wait in the
fetcher instead (parked, or in the window), which slows only that host's
partition, never the topic's size. The count restarts each minute, and only
hosts seen this minute are held.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_MINUTE_SECONDS = 60.0


class RepublishBudget:
    """At most ``per_minute`` re-publishes per host in each clock minute."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._minute = -1
        self._spent: dict[str, int] = {}

    def take(self, host: str) -> bool:
        """Spend one re-publish of ``host``; False, spending nothing, if its budget for this minute is gone."""
        minute = int(self._clock() // _MINUTE_SECONDS)
        if minute != self._minute:
            self._minute = minute
            self._spent.clear()
        spent = self._spent.get(host, 0)
        if spent >= self._per_minute:
            return False
        self._spent[host] = spent + 1
        return True
