"""DLQ records: a long error text is cut, the failed input is kept whole for redriving."""

from __future__ import annotations

import orjson

from stages.core import dlq
from stages.core.errors import BadMessage


def test_a_long_error_is_cut_to_its_start_and_length():
    value = b'{"url": "http://example.com/' + b"a" * 10_000 + b'"}'
    _, record = dlq.record("fetcher", BadMessage("refused: " + "a" * 10_000, error_class="bad_url"),
                           topic="urls", value=value)
    document = orjson.loads(record)
    assert len(document["error"]) < 1100
    assert document["error"].endswith("(10009 characters)")
    assert document["input"]["value"] == value.decode(), "redrive needs the input as it was"
