"""Fakes for logic that needs no I/O."""

from __future__ import annotations

from aiokafka import TopicPartition

TPS = {TopicPartition("in", 0), TopicPartition("in", 1)}


class FakeConsumer:
    """Only the consumer's local pause bookkeeping, which needs no broker."""

    def __init__(self) -> None:
        self._paused: set[TopicPartition] = set()
        # As an unstarted aiokafka consumer: no fetcher, so no buffered fetch results.
        self._fetcher = None

    def assignment(self) -> set[TopicPartition]:
        return set(TPS)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def pause(self, *tps: TopicPartition) -> None:
        self._paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self._paused.difference_update(tps)
