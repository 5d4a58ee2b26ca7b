"""The memory guard: a stage's memory is a function of its configuration.

At start-up the budget the configuration implies is computed, logged, and
checked against the hard limit the process runs under (``--memory-limit-mb``,
else cgroup ``memory.max``, else 1.5 x the budget). While running, RSS above
the soft limit (by default the budget itself) pauses input, halves the
window, collects cycles and trims the heap, and logs where memory grew once;
RSS still above the hard limit after that stops the stage cleanly
(``MemoryExhausted``, exit code 4) instead of letting it grow until the
kernel kills it mid-commit. Input resumes below the low mark (90% of the
soft limit). SIGUSR1 writes a tracemalloc hot-spot report.

glibc's malloc returns freed heap to the kernel eagerly, so a stage that
builds and frees a parse tree per page takes page faults for the same
memory on every page; ``keep_freed_heap`` has it keep ``--malloc-keep-mb``
(parse-and-extract ran ~30% faster here), and the budget counts it.
``pace_collector`` keeps start-up objects out of the cycle collector's
scans; it must keep collecting, because library objects (aiokafka's fetch
results, see ``fetch_buffers.py``) can hold megabytes in cycles.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from stages.core.errors import ConfigError, MemoryExhausted
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

    ``output_ratio`` is the memory a stage holds per byte of output awaiting
    acknowledgement (the sink keeps records as Python objects until its
    storage commit); ``stage_bytes`` is what the stage's own settings add
    (the fetcher's bodies being streamed, the parser's link filter).
    """
    return Budget(
        window_bytes=runner.max_in_flight_bytes,
        output_bytes=int(runner.max_unacked_bytes * output_ratio),
        consumer_prefetch_bytes=kafka_config.fetch_max_bytes,
        producer_bytes=kafka_config.max_request_bytes,
        stage_bytes=stage_bytes,
        overhead_bytes=runner.memory_overhead_mb * MIB,
        # The trim threshold: free heap up to it stays mapped.
        malloc_kept_bytes=2 * runner.malloc_keep_mb * MIB,
    )


@functools.cache
def _libc_function(name: str) -> Callable[..., int] | None:
    # Looked up once: find_library asks ldconfig each time, and the heap is trimmed every second.
    return getattr(ctypes.CDLL(ctypes.util.find_library("c")), name, None)


def keep_freed_heap(keep_bytes: int) -> bool:
    """Have glibc keep up to twice ``keep_bytes`` of freed heap mapped; False where that cannot be done."""
    if keep_bytes <= 0:
        return False
    mallopt = _libc_function("mallopt")
    # Allocations below the mmap threshold come from the heap, so they are reused too.
    settings = ((_M_MMAP_THRESHOLD, keep_bytes), (_M_TOP_PAD, keep_bytes), (_M_TRIM_THRESHOLD, 2 * keep_bytes))
    if mallopt is None or not all(mallopt(param, value) == 1 for param, value in settings):
        log.warning("this C library's malloc cannot be tuned (not glibc?): --malloc-keep-mb has no effect")
        return False
    return True


def trim_heap() -> None:
    """Give free heap back to the kernel: the top of the heap and the free pages inside it."""
    malloc_trim = _libc_function("malloc_trim")
    if malloc_trim is not None:
        malloc_trim(0)


def reclaim() -> None:
    """Free what only the collector can find, and give free heap back to the kernel."""
    gc.collect()
    trim_heap()


def pace_collector(young_threshold: int) -> None:
    """Never rescan what exists at start-up; collect cycles every ``young_threshold`` allocations.

    ``young_threshold`` 0 keeps Python's own pace. Raising it far cuts the
    collector's CPU but risks it never running in a stage whose garbage is
    mostly freed by reference counting: every cycle then stays.
    """
    gc.freeze()
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)


def cgroup_limit_bytes(path: Path = CGROUP_MEMORY_MAX) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text == "max" else int(text)


def effective_limit_bytes(runner: RunnerConfig, cgroup: int | None, planned: Budget) -> int:
    """The hard limit: the configured one, capped by the cgroup's; by default the cgroup's or 1.5 x the budget."""
    if runner.memory_limit_mb:
        configured = runner.memory_limit_mb * MIB
        return min(configured, cgroup) if cgroup else configured
    return cgroup or planned.total_bytes * 3 // 2


def check_budget(stage: str, planned: Budget, limit_bytes: int) -> None:
    log.info("%s memory budget: %s; hard limit %d MB", stage, planned.describe(), limit_bytes // MIB)
    if planned.total_bytes > limit_bytes:
        raise ConfigError(
            f"{stage}: the configuration needs up to {planned.describe()}, more than the memory limit of "
            f"{limit_bytes // MIB} MB: lower --max-in-flight-bytes or --fetch-max-bytes, "
            f"or raise --memory-limit-mb (or the container's memory limit)"
        )


class MemoryGuard:
    """Acts on RSS: pause and reclaim above the soft limit, stop above the hard limit."""

    def __init__(self, runner: RunnerConfig, planned: Budget, limit_bytes: int, window: Window,
                 pauses: PauseState, hot_spots: HotSpots) -> None:
        soft_mb = runner.memory_soft_limit_mb
        self.soft_limit_bytes = min(soft_mb * MIB if soft_mb else planned.total_bytes, limit_bytes)
        self.low_mark_bytes = int(self.soft_limit_bytes * 0.9)
        self.limit_bytes = limit_bytes
        self._planned = planned
        self._interval = runner.memory_check_interval_seconds
        self._trim_interval = runner.memory_trim_interval_seconds
        self._next_trim = time.monotonic() + self._trim_interval
        self._window = window
        self._pauses = pauses
        self._hot_spots = hot_spots
        self._process = psutil.Process()
        self.rss_bytes: int = int(self._process.memory_info().rss)
        self.peak_rss_bytes: int = self.rss_bytes
        self.over_budget = False
        self._growth_reported = False
        # Whether the guard started tracemalloc (its overhead is paid only while memory is over budget).
        self._tracing = False

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    def _read(self) -> int:
        self.rss_bytes = int(self._process.memory_info().rss)
        self.peak_rss_bytes = max(self.peak_rss_bytes, self.rss_bytes)
        return self.rss_bytes

    def check(self) -> None:
        """Raise ``MemoryExhausted`` when RSS stays above the hard limit after reclaiming."""
        self._trim_when_due()
        if self._read() > self.soft_limit_bytes:
            self._over_soft_limit()
        elif self.rss_bytes < self.low_mark_bytes:
            self.over_budget = False
            self._stop_tracing()
            if self._window.shrunk:
                self._window.grow()
            if not self._window.shrunk:
                self._pauses.clear("memory", f"RSS {self.rss_bytes // MIB} MB")

    def _over_soft_limit(self) -> None:
        self._window.shrink()
        self._pauses.set("memory", f"RSS {self.rss_bytes // MIB} MB above soft limit "
                                   f"{self.soft_limit_bytes // MIB} MB; window now "
                                   f"{self._window.limit_messages} messages")
        if not self.over_budget:
            self.over_budget = True
            log.warning("RSS %d MB above the soft limit of %d MB (budget %s): input paused; collecting and "
                        "trimming the heap", self.rss_bytes // MIB, self.soft_limit_bytes // MIB,
                        self._planned.describe())
            # The first report starts tracing; the next one, a check later, names where memory grew.
            self._tracing = not tracemalloc.is_tracing()
            self._hot_spots.report()
        elif not self._growth_reported:
            self._growth_reported = True
            self._hot_spots.report()
            self._stop_tracing()
        reclaim()
        if self._read() > self.limit_bytes:
            self._stop_tracing()
            raise MemoryExhausted(
                f"RSS {self.rss_bytes // MIB} MB stays above the hard memory limit of {self.limit_bytes // MIB} MB "
                f"after a full collection and heap trim; the configuration's budget is "
                f"{self._planned.describe()}: memory beyond it is a leak (report it with the hot spots logged "
                f"above), or raise --memory-limit-mb"
            )


    def _trim_when_due(self) -> None:
        if self._trim_interval and time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + self._trim_interval
            trim_heap()

    def _stop_tracing(self) -> None:
        if self._tracing:
            self._tracing = False
            tracemalloc.stop()


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
