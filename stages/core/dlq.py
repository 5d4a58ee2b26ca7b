"""Dead-letter records: bad input is data, not a crash.

A failed message is wrapped with its stage, error class and reason and
produced to the DLQ topic; only then does its offset count as finished.
Small UTF-8 values travel in the record; of large ones (raw pages) only the
start does, with the full size and a SHA-256, and the rest is read at the
topic, partition and offset the record names (the pages topic keeps them).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson

from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.messages import utc_now
from stages.core.schemas import validate
from stages.core.shorten import ERROR_TEXT_MAX_CHARS, shorten

log = logging.getLogger("crawlpipe.dlq")

INLINE_VALUE_MAX_BYTES = 64 * 1024
KEY_MAX_CHARS = 1024


def _text(raw: bytes | None, max_bytes: int = INLINE_VALUE_MAX_BYTES) -> str | None:
    if raw is None:
        return None
    head = raw[:max_bytes]
    try:
        return head.decode()
    except UnicodeDecodeError as exc:
        if len(raw) > max_bytes and exc.start >= len(head) - 3:
            return head[:exc.start].decode()  # the cut fell inside a character
        return None


def _value_fields(value: bytes | None) -> dict[str, Any]:
    """The value inline when small, else its start; with its full size and hash to find or compare it."""
    if value is None:
        return {"value": None}
    fields: dict[str, Any] = {"value": _text(value), "value_bytes": len(value),
                              "value_sha256": hashlib.sha256(value).hexdigest()}
    if len(value) > INLINE_VALUE_MAX_BYTES:
        fields["value_truncated"] = True
    return fields


def record(stage: str, error: CrawlpipeError, *, attempt: int = 1, envelope: Envelope | None = None,
           topic: str | None = None, key: bytes | None = None, value: bytes | None = None,
           line: int | None = None) -> tuple[bytes | None, bytes]:
    """(key, value) of the DLQ record for a failed message or input line.

    Its size is bounded whatever failed (about 75 KiB at most), so it always fits
    the DLQ topic's ``max.message.bytes`` (2 MiB as ``topics create`` makes it).
    """
    source: dict[str, Any]
    if envelope is not None:
        source = {"topic": envelope.topic, "partition": envelope.partition, "offset": envelope.offset}
        key, value = envelope.key, envelope.value
    else:
        source = {"topic": topic or ""}
    key_text = _text(key)
    source["key"] = None if key_text is None else shorten(key_text, KEY_MAX_CHARS)
    source.update(_value_fields(value))
    if line is not None:
        source["line"] = line
    document = {
        "stage": stage,
        "error_class": error.error_class,
        # An error message may quote the whole bad value (a 4 MB title): its start is enough.
        "error": shorten(str(error), ERROR_TEXT_MAX_CHARS),
        "attempt": attempt,
        "failed_at": utc_now(),
        "input": source,
    }
    # The schema only, not the sanity limits: the record quotes the very value that broke them.
    validate("dlq", document)
    return (None if key is None else key[:KEY_MAX_CHARS * 4]), orjson.dumps(document)
