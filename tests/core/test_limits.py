"""Values that pass the schema but would break storage or readers are refused at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from stages.core import limits
from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, ConfigError
from stages.core.messages import decode_json
from tests.sink.storage_helpers import product_record

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def envelope(document: dict) -> Envelope:
    return Envelope("products", 0, 7, b"k", orjson.dumps(document), (), 0)


def refused(**fields) -> str:
    record = {**product_record("p1", fetched_at="2026-11-30T10:00:00Z", parsed_at="2026-11-30T10:00:01Z"), **fields}
    with pytest.raises(BadMessage) as caught:
        limits.check("product", record, now=NOW)
    assert caught.value.error_class == "out_of_limits"
    return str(caught.value)


def test_a_record_within_the_limits_passes():
    record = product_record("p1", fetched_at="2026-11-30T10:00:00Z", parsed_at="2026-11-30T10:00:01Z",
                            title="Kettle\twith\nnewlines", price="123456789012.123456")
    assert limits.check("product", record, now=NOW) is record


def test_the_year_9999_with_a_negative_offset_is_refused_not_an_overflow():
    assert "fetched_at" in refused(fetched_at="9999-12-31T23:59:59-01:00")


def test_a_timestamp_far_in_the_future_or_past_is_refused():
    assert "max-timestamp-future-seconds" in refused(fetched_at="9000-01-01T00:00:00Z")
    assert "parsed_at" in refused(parsed_at="1970-01-01T00:00:00Z")


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\x7f"])
def test_control_characters_are_refused(bad):
    message = refused(title=f"Kettle{bad}")
    assert "title" in message and "control character" in message


@pytest.mark.parametrize("bad", ["\x00", "\x08", "\x0c", "\x1b[31m", "\x7f"])
@pytest.mark.parametrize("where", ["title", "images"])
def test_control_characters_are_refused_when_decoded_from_json_text(bad, where):
    # Decoding checks the JSON text first and walks the values only when it could hold a control character.
    record = fresh_record() | {"title": "Kettle", "images": ["https://shop.example/a.jpg"]}
    record[where] = f"Kettle{bad}" if where == "title" else ["https://shop.example/a.jpg", f"x{bad}"]
    with pytest.raises(BadMessage, match="control character"):
        decode_json(envelope(record), "product")


def test_a_backslash_before_b_or_f_is_text_not_a_control_character():
    record = fresh_record() | {"title": "C:\\bin\\foo"}
    assert decode_json(envelope(record), "product")["title"] == "C:\\bin\\foo"


def fresh_record() -> dict:
    return product_record("p1", fetched_at=datetime.now(UTC).isoformat(),
                          parsed_at=datetime.now(UTC).isoformat()) | {"method": "rules"}


def test_a_huge_title_is_refused_with_its_size_not_its_text():
    message = refused(title="x" * 1_000_000)
    assert "1000000 characters" in message and len(message) < 200


def test_absurd_prices_are_refused():
    assert "price" in refused(price="1" * 1000)
    assert "price" in refused(price="1.1234567")


def test_limits_are_settings_and_apply_to_decoding(monkeypatch):
    record = product_record("p1", title="x" * 50, fetched_at=datetime.now(UTC).isoformat(),
                            parsed_at=datetime.now(UTC).isoformat()) | {"method": "rules"}
    assert decode_json(envelope(record), "product")["title"] == "x" * 50
    monkeypatch.setattr(limits, "_active", limits.LimitsConfig(max_text_chars=40))
    with pytest.raises(BadMessage, match="above --max-text-chars 40"):
        decode_json(envelope(record), "product")


def test_a_nonsense_limit_is_refused_naming_the_setting():
    with pytest.raises(ConfigError, match="--max-text-chars"):
        limits.LimitsConfig(max_text_chars=0)
