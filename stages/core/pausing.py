"""Why a stage's input is paused, tracked by the stage itself.

Several mechanisms can ask for a pause at once (a full window, downstream
lag, high memory); input is paused while any reason holds and resumed only
when none does. Partitions are paused, never the poll loop: a consumer that
stops polling past ``max_poll_interval_ms`` is thrown out of its group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from stages.core import fetch_buffers

log = logging.getLogger("crawlpipe.pausing")

REASONS = ("window", "lag", "memory", "shutdown")


class PauseState:
    def __init__(self, consumer: AIOKafkaConsumer, stage: str,
                 on_change: Callable[[frozenset[str]], None] | None = None) -> None:
        self._consumer = consumer
        self._stage = stage
        self._reasons: dict[str, str] = {}
        self._on_change = on_change

    @property
    def reasons(self) -> frozenset[str]:
        return frozenset(self._reasons)

    @property
    def paused(self) -> bool:
        return bool(self._reasons)

    def set(self, reason: str, detail: str) -> None:
        if reason in self._reasons:
            return
        self._reasons[reason] = detail
        # The window fills and drains many times a second; only the other
        # reasons are state changes an operator wants to read about.
        level = logging.DEBUG if reason == "window" else logging.INFO
        log.log(level, "%s paused: %s (%s)", self._stage, reason, detail)
        self._changed()

    def clear(self, reason: str, detail: str = "") -> None:
        if self._reasons.pop(reason, None) is None:
            return
        level = logging.DEBUG if reason == "window" else logging.INFO
        log.log(level, "%s resumed from %s%s", self._stage, reason, f" ({detail})" if detail else "")
        self._changed()

    def apply(self) -> None:
        """Make the consumer's paused set match the reasons (also for newly assigned partitions)."""
        assigned = self._consumer.assignment()
        if not assigned:
            return
        if self._reasons:
            to_pause = assigned - self._consumer.paused()
            if to_pause:
                self._consumer.pause(*to_pause)
                fetch_buffers.release(self._consumer, to_pause)
        else:
            paused = self._consumer.paused()
            if paused:
                self._consumer.resume(*paused)

    def _changed(self) -> None:
        self.apply()
        if self._on_change:
            self._on_change(self.reasons)
