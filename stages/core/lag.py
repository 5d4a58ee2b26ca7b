"""Backpressure from the consumer lag of the stage downstream.

The fetcher watches the parser group on the pages topic; the parser watches
the sink group on the products topic. Above a high-water mark this stage
pauses its input, below a low-water mark it resumes; the gap between the
two marks is what keeps it from flapping. Lag in bytes is estimated from the
mean size of the records this stage produced to that topic: Kafka reports
lag in messages only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from stages.core import kafka
from stages.core.pausing import PauseState
from stages.core.settings import RunnerConfig

log = logging.getLogger("crawlpipe.lag")


@dataclass(frozen=True)
class Downstream:
    topic: str
    group: str


class LagWatcher:
    def __init__(self, config: RunnerConfig, downstream: Downstream, admin_client: AIOKafkaAdminClient,
                 probe: AIOKafkaConsumer, pauses: PauseState) -> None:
        self._config = config
        self._downstream = downstream
        self._admin = admin_client
        self._probe = probe
        self._pauses = pauses
        self._produced_messages = 0
        self._produced_bytes = 0
        self.lag_messages: int | None = None
        self._warned_unknown = False

    @property
    def enabled(self) -> bool:
        return self._config.lag_check_interval_seconds > 0

    def produced(self, size: int) -> None:
        """Feed the estimate of bytes per downstream message."""
        self._produced_messages += 1
        self._produced_bytes += size

    @property
    def lag_bytes(self) -> int | None:
        if self.lag_messages is None or not self._produced_messages:
            return None
        return self.lag_messages * self._produced_bytes // self._produced_messages

    async def check(self) -> None:
        """Read the lag and pause or resume; run by the stage's supervisor, which retries it after errors."""
        try:
            partitions = await kafka.topic_partitions(self._admin, self._downstream.topic)
            self.lag_messages = await kafka.group_lag(self._admin, self._probe, self._downstream.group, partitions)
        except Exception:
            # Unknown, not the last value seen: a frozen figure would pass for a live one.
            self.lag_messages = None
            raise
        if self.lag_messages is None:
            if not self._warned_unknown:
                log.info("lag of %s on %s unknown (no committed offsets yet): not applying backpressure",
                         self._downstream.group, self._downstream.topic)
                self._warned_unknown = True
            self._pauses.clear("lag", "downstream lag unknown")
            return
        self._warned_unknown = False
        self._decide(self.lag_messages, self.lag_bytes or 0)

    def _decide(self, lag_messages: int, lag_bytes: int) -> None:
        c = self._config
        where = f"{self._downstream.group} on {self._downstream.topic}: {lag_messages} messages, ~{lag_bytes} bytes"
        if lag_messages > c.lag_high_water_messages or lag_bytes > c.lag_high_water_bytes:
            self._pauses.set("lag", f"lag of {where} above high water")
        elif lag_messages < c.lag_low_water_messages and lag_bytes < c.lag_low_water_bytes:
            self._pauses.clear("lag", f"lag of {where} below low water")
