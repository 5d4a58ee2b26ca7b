"""A line repeated in an outage is printed once per interval, then with the count of those dropped."""

from __future__ import annotations

import logging

from stages.core.ratelimited_log import RepeatFilter


def records(filter_: RepeatFilter, template: str, count: int, level: int = logging.WARNING) -> list[str]:
    passed = []
    for n in range(count):
        record = logging.LogRecord("aiokafka", level, __file__, 1, template, (n,), None)
        if filter_.filter(record):
            passed.append(record.getMessage())
    return passed


def test_repeats_are_folded_into_one_line_per_interval_with_a_count():
    now = [0.0]
    repeat = RepeatFilter(30.0, clock=lambda: now[0])
    assert records(repeat, "Unable to connect to node %s", 5000) == ["Unable to connect to node 0"]
    assert records(repeat, "Another failure %s", 3) == ["Another failure 0"]
    now[0] = 31.0
    assert records(repeat, "Unable to connect to node %s", 2) == [
        "Unable to connect to node 0 [4999 more like this in the last 30 s]"]


def test_info_lines_are_state_changes_and_never_folded():
    assert len(records(RepeatFilter(30.0), "rebalance: assigned %s", 3, level=logging.INFO)) == 3
