"""The memory guard acts on the process's real RSS; hot-spot reports keep one snapshot, not a history."""

from __future__ import annotations

from stages.core.memory import HotSpots, MemoryGuard
from stages.core.pausing import PauseState
from stages.core.settings import MIB, RunnerConfig
from stages.core.window import Window
from tests.core.fakes import FakeConsumer


def test_rss_above_the_soft_limit_pauses_and_shrinks_the_window_until_it_falls_back():
    window = Window(max_messages=64, max_bytes=MIB)
    pauses = PauseState(FakeConsumer(), "parser")
    # A soft limit of 1 MB: this very process is above it.
    guard = MemoryGuard(RunnerConfig(memory_soft_limit_mb=1), 1024 * MIB, window, pauses)
    guard.check()
    guard.check()
    assert pauses.reasons == {"memory"}
    assert window.limit_messages == 16
    # RSS falls below the low mark (here: the limit is raised): the window grows back, then input resumes.
    guard.soft_limit_bytes = guard.low_mark_bytes = 1 << 40
    guard.check()
    assert window.limit_messages == 32 and pauses.paused
    guard.check()
    assert window.limit_messages == 64 and not pauses.paused


def test_hot_spots_start_tracing_then_report_top_allocations_and_growth():
    import tracemalloc

    spots = HotSpots(top=3)
    try:
        assert "started" in spots.report()
        kept = [bytearray(1000) for _ in range(1000)]
        first = spots.report()
        assert "top allocations:" in first and "growth" not in first
        kept += [bytearray(1000) for _ in range(1000)]
        assert "growth since the last report:" in spots.report()
    finally:
        tracemalloc.stop()
    assert kept
