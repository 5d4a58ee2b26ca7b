"""Offsets commit only up to the highest contiguous finished offset, whatever the completion order."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from stages.core.offsets import OffsetTracker

TP = TopicPartition("t", 0)


def test_out_of_order_completion_commits_only_the_contiguous_prefix():
    tracker = OffsetTracker()
    tokens = {o: tracker.begin(TP, o) for o in range(10, 15)}
    tracker.finish(TP, 12, tokens[12])
    tracker.finish(TP, 11, tokens[11])
    assert tracker.to_commit() == {}
    tracker.finish(TP, 10, tokens[10])
    assert tracker.to_commit() == {TP: 13}
    tracker.committed({TP: 13})
    assert tracker.to_commit() == {}


def test_revoked_partition_returns_finished_work_and_ignores_late_completions():
    tracker = OffsetTracker()
    t0 = tracker.begin(TP, 0)
    t1 = tracker.begin(TP, 1)
    tracker.finish(TP, 0, t0)
    assert tracker.revoke({TP}) == {TP: 1}
    tracker.finish(TP, 1, t1)
    assert tracker.to_commit() == {}
    # Reassigned later: a fresh generation, the old token no longer counts.
    t5 = tracker.begin(TP, 5)
    tracker.finish(TP, 1, t1)
    assert tracker.to_commit() == {}
    tracker.finish(TP, 5, t5)
    assert tracker.to_commit() == {TP: 6}


@given(
    count=st.integers(min_value=1, max_value=60),
    order=st.randoms(use_true_random=False),
    crash_after=st.integers(min_value=0, max_value=60),
)
def test_a_crash_at_any_point_never_commits_past_an_unfinished_message(count, order, crash_after):
    """Whatever finishes and whenever we crash, restarting from the commit loses nothing."""
    tracker = OffsetTracker()
    tokens = {o: tracker.begin(TP, o) for o in range(count)}
    completion = list(range(count))
    order.shuffle(completion)
    finished: set[int] = set()
    committed = 0
    for step, offset in enumerate(completion):
        if step == crash_after:
            break
        tracker.finish(TP, offset, tokens[offset])
        finished.add(offset)
        if step % 3 == 0:
            offsets = tracker.to_commit()
            tracker.committed(offsets)
            committed = offsets.get(TP, committed)
    # Everything below the committed offset really finished...
    assert all(o in finished for o in range(committed))
    # ...and the commit is as far as it can safely be at the last commit point.
    final = tracker.to_commit().get(TP, committed)
    expected = next((o for o in range(count) if o not in finished), count)
    assert final == expected
