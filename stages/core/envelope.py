"""The typed envelope a message travels in through a stage.

Offset tracking, the window and the DLQ only need these fields, so nothing
past the consumer ever touches aiokafka's raw record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass(frozen=True, slots=True)
class Envelope:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    # Worked out once: the runner asks for both several times per message.
    tp: TopicPartition = field(init=False, repr=False, compare=False)
    size: int = field(init=False, repr=False, compare=False)
    """Bytes this message costs the window: its key, value and headers."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tp", TopicPartition(self.topic, self.partition))
        size = len(self.value) + (len(self.key) if self.key else 0) + sum(len(k) + len(v) for k, v in self.headers)
        object.__setattr__(self, "size", size)

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def where(self) -> str:
        """The one format every log line uses to point at a message."""
        return f'partition="{self.topic}[{self.partition}]" offset="{self.offset}"'
