"""The typed envelope a message travels in through a stage.

Offset tracking, the window and the DLQ only need these fields, so nothing
past the consumer ever touches aiokafka's raw record.
"""

from __future__ import annotations

from typing import NamedTuple


class Envelope(NamedTuple):
    """One consumed record: immutable, and built once per record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    @property
    def size(self) -> int:
        """Bytes this message costs the window: its key, value and headers."""
        size = len(self.value) + (len(self.key) if self.key else 0)
        for name, value in self.headers:
            size += len(name) + len(value)
        return size

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def where(self) -> str:
        """The one format every log line uses to point at a message."""
        return f'partition="{self.topic}[{self.partition}]" offset="{self.offset}"'
