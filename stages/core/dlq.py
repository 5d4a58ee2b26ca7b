"""Dead-letter records: bad input is data, not a crash.

A failed message is wrapped with its stage, error class and reason and
produced to the DLQ topic; only then does its offset count as finished.
Small UTF-8 values travel in the record; large ones (raw pages) are
referenced by topic, partition and offset, which the pages topic keeps.
"""

from __future__ import annotations

import logging
from typing import Any

from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.messages import encode_json, utc_now
from stages.core.shorten import ERROR_TEXT_MAX_CHARS, shorten

log = logging.getLogger("crawlpipe.dlq")

INLINE_VALUE_MAX_BYTES = 64 * 1024


def _text(raw: bytes | None) -> str | None:
    if raw is None or len(raw) > INLINE_VALUE_MAX_BYTES:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def record(stage: str, error: CrawlpipeError, *, attempt: int = 1, envelope: Envelope | None = None,
           topic: str | None = None, key: bytes | None = None, value: bytes | None = None,
           line: int | None = None) -> tuple[bytes | None, bytes]:
    """(key, value) of the DLQ record for a failed message or input line."""
    source: dict[str, Any]
    if envelope is not None:
        source = {"topic": envelope.topic, "partition": envelope.partition, "offset": envelope.offset,
                  "key": _text(envelope.key), "value": _text(envelope.value)}
        key = envelope.key
    else:
        source = {"topic": topic or "", "key": _text(key), "value": _text(value)}
    if line is not None:
        source["line"] = line
    document = {
        "stage": stage,
        "error_class": error.error_class,
        "error": shorten(str(error), ERROR_TEXT_MAX_CHARS),
        "attempt": attempt,
        "failed_at": utc_now(),
        "input": source,
    }
    return key, encode_json(document, "dlq")
