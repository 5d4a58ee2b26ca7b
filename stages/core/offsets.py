"""Which offsets are safe to commit, when messages finish out of order.

A partition's committed offset may only move to just past the highest offset
below which *every* message has finished; committing the newest finished
offset would skip a slow message still in flight if the process then died.
State is kept per assignment generation: after a partition is revoked, late
completions from its old tasks are ignored, so a stage never commits a
partition that another replica now owns.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass
class _Partition:
    generation: int
    pending: deque[int] = field(default_factory=deque)
    finished: set[int] = field(default_factory=set)
    committable: int | None = None
    committed: int | None = None

    def begin(self, offset: int) -> None:
        # Invariant: a partition's messages start in offset order, so the
        # oldest unfinished offset is always at the left of `pending`.
        if self.pending and offset <= self.pending[-1]:
            raise ValueError(f"offset {offset} started after {self.pending[-1]}")
        self.pending.append(offset)

    def finish(self, offset: int) -> None:
        if not self.finished and self.pending and self.pending[0] == offset:
            # In order, as a batched stage finishes: nothing else becomes contiguous.
            self.pending.popleft()
            self.committable = offset + 1
            return
        self.finished.add(offset)
        while self.pending and self.pending[0] in self.finished:
            done = self.pending.popleft()
            self.finished.discard(done)
            self.committable = done + 1


class OffsetTracker:
    """Per-partition bookkeeping of started and finished offsets."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._generation = 0

    def begin(self, tp: TopicPartition, offset: int) -> int:
        """Record that ``offset`` entered the stage; returns the token to finish it with."""
        state = self._partitions.get(tp)
        if state is None:
            self._generation += 1
            state = self._partitions[tp] = _Partition(self._generation)
        state.begin(offset)
        return state.generation

    def finish(self, tp: TopicPartition, offset: int, token: int) -> None:
        """Record that everything derived from ``offset`` is acknowledged."""
        state = self._partitions.get(tp)
        if state is not None and state.generation == token:
            state.finish(offset)

    def in_flight(self, tp: TopicPartition) -> int:
        state = self._partitions.get(tp)
        return len(state.pending) if state else 0

    def oldest_pending(self) -> dict[TopicPartition, int]:
        """The oldest unfinished offset of every partition with messages in flight."""
        return {tp: state.pending[0] for tp, state in self._partitions.items() if state.pending}

    def to_commit(self) -> dict[TopicPartition, int]:
        """Offsets that moved since the last commit (Kafka's convention: the next offset to read)."""
        return {
            tp: state.committable
            for tp, state in self._partitions.items()
            if state.committable is not None and state.committable != state.committed
        }

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            state = self._partitions.get(tp)
            if state is not None:
                state.committed = offset

    def revoke(self, tps: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Forget revoked partitions; returns what was finished but not yet committed for them."""
        final: dict[TopicPartition, int] = {}
        for tp in tps:
            state = self._partitions.pop(tp, None)
            if state and state.committable is not None and state.committable != state.committed:
                final[tp] = state.committable
        return final
