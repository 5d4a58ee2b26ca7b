"""Messages are validated against schemas/ where they enter; page metadata survives the headers."""

from __future__ import annotations

import orjson
import pytest

from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, SchemaError
from stages.core.messages import decode_page_headers, decode_url, encode_page_headers, encode_url


def envelope(value: bytes, headers=()) -> Envelope:
    return Envelope("t", 0, 7, b"k", value, tuple(headers), 0)


def test_url_messages_are_keyed_by_host_and_carry_the_normal_url():
    key, value = encode_url({"url": "https://user:pw@Shop.Example/a?b=1#top", "depth": 0, "attempt": 1})
    assert key == b"shop.example"
    assert decode_url(envelope(value))["url"] == "https://shop.example/a?b=1"
    assert b"pw" not in value


def test_a_url_message_read_with_a_raw_url_gets_the_normal_form():
    value = orjson.dumps({"url": "http://2130706433/p", "depth": 0, "attempt": 1})
    assert decode_url(envelope(value))["url"] == "http://127.0.0.1/p"


@pytest.mark.parametrize("value, error_class", [
    (b"\x00garbage", "bad_json"),
    (orjson.dumps({"depth": 0, "attempt": 1}), "schema"),
    (orjson.dumps({"url": "http://a/", "depth": -1, "attempt": 1}), "schema"),
    (orjson.dumps({"url": "http://a/", "depth": 0, "attempt": 1, "extra": True}), "schema"),
    # Every URL outside the contract is bad_url, the long ones too (not schema, whose limit agrees).
    (orjson.dumps({"url": "http://a/" + "x" * 10_000, "depth": 0, "attempt": 1}), "bad_url"),
    (orjson.dumps({"url": "ftp://a/", "depth": 0, "attempt": 1}), "bad_url"),
])
def test_bad_url_messages_are_refused_with_a_class(value, error_class):
    with pytest.raises(BadMessage) as refused:
        decode_url(envelope(value))
    assert refused.value.error_class == error_class


def test_page_metadata_round_trips_through_record_headers():
    meta = {"url": "http://a/", "final_url": "http://a/x", "status": 200, "content_type": "text/html",
            "charset": "utf-8", "fetched_at": "2026-11-26T10:00:00.000000Z", "timings": {"total": 0.25},
            "url_message": {"url": "http://a/", "depth": 1, "attempt": 1}}
    assert decode_page_headers(envelope(b"<html>", encode_page_headers(meta))) == meta


def test_page_records_missing_metadata_are_refused():
    with pytest.raises(SchemaError):
        decode_page_headers(envelope(b"<html>", [("url", b"http://a/")]))
