"""The errors crawlpipe raises, in one shallow hierarchy.

Library exceptions (aiohttp, aiokafka, database drivers) are translated into
these at the boundary with ``raise ... from``, so the stage loop only has to
know two things about a failure: which DLQ ``error_class`` it belongs to, and
whether trying again later could succeed (``retriable``).
"""

from __future__ import annotations


class CrawlpipeError(Exception):
    """Base of every crawlpipe error."""

    error_class: str = "error"
    retriable: bool = False
    #: How many times the input has been tried, for its DLQ record (a stage that retries sets it).
    attempt: int = 1


class ConfigError(CrawlpipeError):
    """A setting is missing, malformed or inconsistent; raised before any work starts."""

    error_class = "config"


class BadMessage(CrawlpipeError):
    """An input message that can never be processed: it goes to the DLQ, the offset moves on."""

    error_class = "bad_message"

    def __init__(self, message: str, *, error_class: str | None = None) -> None:
        super().__init__(message)
        if error_class is not None:
            self.error_class = error_class


class SchemaError(BadMessage):
    """A message does not match its JSON Schema in ``schemas/``."""

    error_class = "schema"


class TransientError(CrawlpipeError):
    """A failure that may go away on its own (a timeout, a 503, a broker hiccup)."""

    error_class = "transient"
    retriable = True

    def __init__(self, message: str, *, error_class: str | None = None) -> None:
        super().__init__(message)
        if error_class is not None:
            self.error_class = error_class


class KafkaUnavailable(CrawlpipeError):
    """The broker cannot be reached; the message names the bootstrap address to check."""

    error_class = "kafka_unavailable"
    retriable = True


class MemoryExhausted(CrawlpipeError):
    """RSS stayed above the hard memory limit after reclaiming: the stage stops cleanly (exit code 4)."""

    error_class = "memory"
