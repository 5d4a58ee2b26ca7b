"""Repeated log lines folded into one per interval, with a count: an outage must not flood the log.

During a broker outage aiokafka and every stage loop report the same
failure thousands of times a minute. This filter, on the process's one log
handler, lets the first record of each kind (logger and message template,
so "connection to node %s failed" is one kind whatever the node) through,
drops the repeats for ``repeat_seconds``, and then prints how many it dropped
on the next line of that kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

# State changes (INFO) are single lines by design; what repeats in an outage is WARNING and above.
FOLDED_FROM_LEVEL = logging.WARNING


@dataclass
class _Kind:
    window_started: float
    dropped: int = 0


class RepeatFilter(logging.Filter):
    def __init__(self, repeat_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._repeat_seconds = repeat_seconds
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self._repeat_seconds <= 0 or record.levelno < FOLDED_FROM_LEVEL:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        kind = self._kinds.get(key)
        if kind is None or now - kind.window_started >= self._repeat_seconds:
            dropped = kind.dropped if kind else 0
            self._kinds[key] = _Kind(now)
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this in the last {self._repeat_seconds:.0f} s]"
            return True
        kind.dropped += 1
        return False
