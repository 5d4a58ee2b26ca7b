"""The memory guard: a stage's memory is a function of its configuration.

At start-up the budget the configuration implies is computed, logged, and
checked against the limit the process runs under (cgroup ``memory.max``
where set, else ``--memory-limit-mb``). While running, RSS above the soft
limit pauses input and halves the window until RSS falls below the low mark
(90% of the soft limit). SIGUSR1 writes a tracemalloc hot-spot report.

glibc's malloc returns freed heap to the kernel eagerly, so a stage that
builds and frees a parse tree per page takes page faults for the same
memory on every page; ``keep_freed_heap`` has it keep ``--malloc-keep-mb``
(parse-and-extract ran ~30% faster here), and the budget counts it.
``pace_collector`` spaces out Python's cyclic garbage collector, which
otherwise runs every 700 container allocations and scans start-up objects
that live as long as the process.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import psutil

from stages.core.errors import ConfigError
from stages.core.pausing import PauseState
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from stages.core.window import Window

log = logging.getLogger("crawlpipe.memory")

CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
# mallopt(3) parameters.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


@dataclass(frozen=True)
class Budget:
    window_bytes: int
    output_bytes: int
    consumer_prefetch_bytes: int
    producer_bytes: int
    stage_bytes: int
    overhead_bytes: int
    malloc_kept_bytes: int

    @property
    def total_bytes(self) -> int:
        return (self.window_bytes + self.output_bytes + self.consumer_prefetch_bytes
                + self.producer_bytes + self.stage_bytes + self.overhead_bytes + self.malloc_kept_bytes)

    def describe(self) -> str:
        return (f"{self.total_bytes // MIB} MB = window {self.window_bytes // MIB} MB"
                f" + outputs {self.output_bytes // MIB} MB"
                f" + consumer prefetch {self.consumer_prefetch_bytes // MIB} MB"
                f" + producer buffers {self.producer_bytes // MIB} MB"
                f" + stage {self.stage_bytes // MIB} MB"
                f" + overhead {self.overhead_bytes // MIB} MB"
                f" + kept heap {self.malloc_kept_bytes // MIB} MB")


def budget(runner: RunnerConfig, kafka_config: KafkaConfig, *, output_ratio: float, stage_bytes: int = 0) -> Budget:
    """What the configuration allows a stage to hold at once.

    ``output_ratio`` is how many bytes of output a stage holds per byte of
    in-flight input until Kafka acknowledges it; ``stage_bytes`` is what the
    stage's own settings add (the fetcher's bodies being streamed, the
    parser's link filter).
    """
    return Budget(
        window_bytes=runner.max_in_flight_bytes,
        output_bytes=int(runner.max_in_flight_bytes * output_ratio),
        consumer_prefetch_bytes=kafka_config.fetch_max_bytes,
        producer_bytes=kafka_config.max_request_bytes,
        stage_bytes=stage_bytes,
        overhead_bytes=runner.memory_overhead_mb * MIB,
        # The trim threshold: free heap up to it stays mapped.
        malloc_kept_bytes=2 * runner.malloc_keep_mb * MIB,
    )


def keep_freed_heap(keep_bytes: int) -> bool:
    """Have glibc keep up to twice ``keep_bytes`` of freed heap mapped; False where that cannot be done."""
    if keep_bytes <= 0:
        return False
    mallopt = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallopt", None)
    # Allocations below the mmap threshold come from the heap, so they are reused too.
    settings = ((_M_MMAP_THRESHOLD, keep_bytes), (_M_TOP_PAD, keep_bytes), (_M_TRIM_THRESHOLD, 2 * keep_bytes))
    if mallopt is None or not all(mallopt(param, value) == 1 for param, value in settings):
        log.warning("this C library's malloc cannot be tuned (not glibc?): --malloc-keep-mb has no effect")
        return False
    return True


def pace_collector(young_threshold: int) -> None:
    """Collect cycles every ``young_threshold`` allocations and never rescan what exists at start-up.

    A stage's garbage is freed by reference counting as each message ends;
    the collector only finds cycles, and at Python's default pace it cost a
    stage ~5% of its CPU per page.
    """
    if young_threshold <= 0:
        return
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


def cgroup_limit_bytes(path: Path = CGROUP_MEMORY_MAX) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text == "max" else int(text)


def effective_limit_bytes(runner: RunnerConfig, cgroup: int | None) -> int:
    configured = runner.memory_limit_mb * MIB
    return min(configured, cgroup) if cgroup else configured


def check_budget(stage: str, planned: Budget, limit_bytes: int) -> None:
    log.info("%s memory budget: %s; limit %d MB", stage, planned.describe(), limit_bytes // MIB)
    if planned.total_bytes > limit_bytes:
        raise ConfigError(
            f"{stage}: the configuration needs up to {planned.describe()}, more than the memory limit of "
            f"{limit_bytes // MIB} MB: lower --max-in-flight-bytes or --fetch-max-bytes, "
            f"or raise --memory-limit-mb (or the container's memory limit)"
        )


class MemoryGuard:
    def __init__(self, runner: RunnerConfig, limit_bytes: int, window: Window, pauses: PauseState) -> None:
        soft_mb = runner.memory_soft_limit_mb
        self.soft_limit_bytes = soft_mb * MIB if soft_mb else int(limit_bytes * 0.8)
        self.low_mark_bytes = int(self.soft_limit_bytes * 0.9)
        self._interval = runner.memory_check_interval_seconds
        self._window = window
        self._pauses = pauses
        self._process = psutil.Process()
        self.rss_bytes = self._process.memory_info().rss
        self.peak_rss_bytes = self.rss_bytes

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    async def run(self) -> None:
        while True:
            self.check()
            await asyncio.sleep(self._interval)

    def check(self) -> None:
        self.rss_bytes = self._process.memory_info().rss
        self.peak_rss_bytes = max(self.peak_rss_bytes, self.rss_bytes)
        if self.rss_bytes > self.soft_limit_bytes:
            self._window.shrink()
            self._pauses.set("memory", f"RSS {self.rss_bytes // MIB} MB above soft limit "
                                       f"{self.soft_limit_bytes // MIB} MB; window now "
                                       f"{self._window.limit_messages} messages")
        elif self.rss_bytes < self.low_mark_bytes:
            if self._window.shrunk:
                self._window.grow()
            if not self._window.shrunk:
                self._pauses.clear("memory", f"RSS {self.rss_bytes // MIB} MB")


class HotSpots:
    """tracemalloc reports on request: the first asks to start tracing, later ones report.

    Only the previous snapshot is kept, to report growth since then: history
    is one snapshot, never a growing list.
    """

    def __init__(self, top: int = 15) -> None:
        self._top = top
        self._previous: tracemalloc.Snapshot | None = None

    def report(self) -> str:
        if not tracemalloc.is_tracing():
            tracemalloc.start(10)
            message = "tracemalloc started; request again for a report of top allocations and growth"
            log.warning(message)
            return message
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        lines = ["top allocations:"]
        lines += [f"  {stat}" for stat in snapshot.statistics("lineno")[: self._top]]
        if self._previous is not None:
            lines.append("growth since the last report:")
            lines += [f"  {stat}" for stat in snapshot.compare_to(self._previous, "lineno")[: self._top]]
        self._previous = snapshot
        text = "\n".join(lines)
        log.warning("memory hot spots\n%s", text)
        return text
