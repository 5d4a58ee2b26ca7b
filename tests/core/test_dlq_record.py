"""A DLQ record always fits the DLQ topic, whatever failed, and names what it cut."""

from __future__ import annotations

import hashlib

import orjson

from stages.core import dlq
from stages.core.envelope import Envelope
from stages.core.errors import BadMessage
from stages.core.schemas import validate


def test_a_4_mb_value_and_an_error_quoting_it_make_a_small_record_with_size_and_hash():
    value = orjson.dumps({"title": "é" * 2_000_000})
    error = BadMessage(f"product: title is {value.decode()!r}")
    key, record = dlq.record("sink", error, envelope=Envelope("crawl.products", 1, 42, b"p1", value, (), 0))
    assert len(record) < 100 * 1024
    document = validate("dlq", orjson.loads(record))
    source = document["input"]
    assert source["value_bytes"] == len(value) and source["value_truncated"] is True
    assert source["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert value.decode().startswith(source["value"]) and len(source["value"].encode()) <= dlq.INLINE_VALUE_MAX_BYTES
    assert document["error"].endswith("characters)") and key == b"p1"


def test_a_small_value_travels_whole_with_its_control_characters():
    value = b'{"title": "a\\u0000b"}'
    _, record = dlq.record("sink", BadMessage("nul"), envelope=Envelope("t", 0, 1, None, value, (), 0))
    source = orjson.loads(record)["input"]
    assert source["value"] == value.decode() and "value_truncated" not in source

def test_a_long_error_is_cut_to_its_start_and_length():
    value = b'{"url": "http://example.com/' + b"a" * 10_000 + b'"}'
    _, record = dlq.record("fetcher", BadMessage("refused: " + "a" * 10_000, error_class="bad_url"),
                           topic="urls", value=value)
    document = orjson.loads(record)
    assert len(document["error"]) < 1100
    assert document["error"].endswith("(10009 characters)")
    assert document["input"]["value"] == value.decode(), "redrive needs the input as it was"
