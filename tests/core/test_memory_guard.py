"""The memory guard acts on the process's real RSS; hot-spot reports keep one snapshot, not a history."""

from __future__ import annotations

import gc
import subprocess
import sys
import tracemalloc

import pytest

from stages.core import memory as memory_module
from stages.core.errors import MemoryExhausted
from stages.core.memory import HotSpots, MemoryGuard, budget
from stages.core.pausing import PauseState
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from stages.core.window import Window
from tests.conftest import ROOT
from tests.core.fakes import FakeConsumer


def guard(window: Window, *, soft_mb: int, limit_bytes: int = 1 << 40) -> MemoryGuard:
    runner = RunnerConfig(memory_soft_limit_mb=soft_mb)
    planned = budget(runner, KafkaConfig(), output_ratio=1.0)
    return MemoryGuard(runner, planned, limit_bytes, window, PauseState(FakeConsumer(), "parser"), HotSpots(top=3))


@pytest.fixture(autouse=True)
def no_tracing_left_behind():
    yield
    tracemalloc.stop()


def test_rss_above_the_soft_limit_pauses_and_shrinks_the_window_until_it_falls_back():
    window = Window(max_messages=64, max_bytes=MIB)
    # A soft limit of 1 MB: this very process is above it.
    memory = guard(window, soft_mb=1)
    memory.check()
    memory.check()
    assert memory._pauses.reasons == {"memory"} and memory.over_budget
    assert window.limit_messages == 16
    # RSS falls below the low mark (here: the limit is raised): the window grows back, then input resumes.
    memory.soft_limit_bytes = memory.low_mark_bytes = 1 << 40
    memory.check()
    assert window.limit_messages == 32 and memory._pauses.paused
    memory.check()
    assert window.limit_messages == 64 and not memory._pauses.paused and not memory.over_budget


def test_over_the_soft_limit_the_guard_collects_cycles_and_logs_where_memory_grew_once(caplog, request):
    window = Window(max_messages=64, max_bytes=MIB)
    memory = guard(window, soft_mb=1)
    memory.check()
    assert tracemalloc.is_tracing()
    # Only the guard may collect: with the collector on, it could free the cycles by itself.
    gc.disable()
    request.addfinalizer(gc.enable)
    cycles = []
    for _ in range(200):
        node: dict[str, object] = {"payload": bytearray(50_000)}
        node["self"] = node
        cycles.append(node)
    rss_with_cycles = memory._read()
    del cycles
    with caplog.at_level("WARNING", logger="crawlpipe.memory"):
        memory.check()
        memory.check()
    assert memory.rss_bytes < rss_with_cycles - 5 * MIB, "the 10 MB held in reference cycles was not freed"
    assert [r.message.startswith("memory hot spots") for r in caplog.records].count(True) == 1
    assert not tracemalloc.is_tracing()


def test_back_under_budget_before_its_report_the_guard_stops_the_tracing_it_started():
    memory = guard(Window(max_messages=64, max_bytes=MIB), soft_mb=1)
    memory.check()
    assert tracemalloc.is_tracing(), "over budget, the guard traces allocations to report where memory grew"
    memory.soft_limit_bytes = memory.low_mark_bytes = 1 << 40
    memory.check()
    assert not tracemalloc.is_tracing(), "tracing costs CPU on every allocation: it ends with the episode"


def test_rss_above_the_hard_limit_after_reclaiming_stops_the_stage_naming_the_budget():
    window = Window(max_messages=64, max_bytes=MIB)
    memory = guard(window, soft_mb=1, limit_bytes=2 * MIB)
    with pytest.raises(MemoryExhausted, match=r"hard memory limit of 2 MB .* budget is \d+ MB = window"):
        memory.check()


def test_hot_spots_start_tracing_then_report_top_allocations_and_growth():
    spots = HotSpots(top=3)
    assert "started" in spots.report()
    kept = [bytearray(1000) for _ in range(1000)]
    first = spots.report()
    assert "top allocations:" in first and "growth" not in first
    kept += [bytearray(1000) for _ in range(1000)]
    assert "growth since the last report:" in spots.report()
    assert kept


FRAGMENTED_HEAP = """
import sys
from stages.core.memory import keep_freed_heap, trim_heap
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
keep_freed_heap(8 * 2**20)
blocks = [bytearray(64 * 1024) for _ in range(600)]
del blocks[::2]
before = rss_mb()
if sys.argv[1] == "trim":
    trim_heap()
print(before - rss_mb())
"""


def released_mb(action: str) -> float:
    return float(subprocess.run([sys.executable, "-c", FRAGMENTED_HEAP, action], capture_output=True, text=True,
                                check=True, cwd=ROOT).stdout)


def test_trimming_gives_freed_heap_inside_the_heap_back_to_the_kernel():
    # 300 freed blocks of 64 KB between live ones (18.75 MB): glibc keeps them mapped until trimmed.
    assert released_mb("keep") < 1 < 15 < released_mb("trim")


def test_the_guard_trims_the_heap_on_its_interval_and_never_when_it_is_zero(monkeypatch):
    trims: list[float] = []
    monkeypatch.setattr(memory_module, "trim_heap", lambda: trims.append(memory_module.time.monotonic()))
    window = Window(max_messages=64, max_bytes=MIB)
    never = RunnerConfig(memory_trim_interval_seconds=0)
    idle = MemoryGuard(never, budget(never, KafkaConfig(), output_ratio=1.0), 1 << 40, window,
                       PauseState(FakeConsumer(), "parser"), HotSpots(top=3))
    idle.check()
    assert trims == []
    memory = guard(window, soft_mb=1 << 20)
    memory.check()
    assert trims == []
    monkeypatch.setattr(memory, "_next_trim", memory_module.time.monotonic())
    memory.check()
    memory.check()
    assert len(trims) == 1
