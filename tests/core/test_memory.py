"""The memory budget is computed from configuration and checked against the limit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stages.core.errors import ConfigError
from stages.core.memory import (
    budget,
    cgroup_limit_bytes,
    check_budget,
    effective_limit_bytes,
)
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from tests.conftest import ROOT


def test_budget_adds_window_unacked_outputs_prefetch_producer_overhead_and_kept_heap():
    runner = RunnerConfig(max_in_flight_bytes=10 * MIB, max_unacked_bytes=10 * MIB, memory_overhead_mb=50,
                          malloc_keep_mb=4)
    kafka = KafkaConfig(fetch_max_bytes=4 * MIB, max_partition_fetch_bytes=1 * MIB, max_request_bytes=2 * MIB)
    planned = budget(runner, kafka, output_ratio=0.5)
    assert planned.total_bytes == (10 + 5 + 4 + 2 + 50 + 8) * MIB
    assert budget(runner, kafka, output_ratio=0.5, stage_bytes=3 * MIB).total_bytes == (10 + 5 + 4 + 2 + 3 + 50 + 8) * MIB


def test_a_budget_over_the_limit_refuses_to_start_and_says_what_to_tune():
    planned = budget(RunnerConfig(max_in_flight_bytes=900 * MIB), KafkaConfig(), output_ratio=1.0)
    with pytest.raises(ConfigError, match="--max-in-flight-bytes"):
        check_budget("parser", planned, 512 * MIB)


def test_the_cgroup_limit_wins_when_lower(tmp_path):
    limit_file = tmp_path / "memory.max"
    limit_file.write_text("268435456\n")
    assert cgroup_limit_bytes(limit_file) == 256 * MIB
    planned = budget(RunnerConfig(), KafkaConfig(), output_ratio=1.0)
    assert effective_limit_bytes(RunnerConfig(memory_limit_mb=1024), cgroup_limit_bytes(limit_file), planned) \
        == 256 * MIB
    assert effective_limit_bytes(RunnerConfig(), cgroup_limit_bytes(limit_file), planned) == 256 * MIB
    limit_file.write_text("max\n")
    assert cgroup_limit_bytes(limit_file) is None
    assert cgroup_limit_bytes(tmp_path / "absent") is None


def test_without_a_cgroup_limit_the_hard_limit_is_the_configured_one_or_half_again_the_budget():
    planned = budget(RunnerConfig(), KafkaConfig(), output_ratio=1.0)
    assert effective_limit_bytes(RunnerConfig(memory_limit_mb=700), None, planned) == 700 * MIB
    assert effective_limit_bytes(RunnerConfig(), None, planned) == planned.total_bytes * 3 // 2


FAULTS_PER_PAGE = """
import resource, sys
from stages.core.memory import keep_freed_heap
kept = keep_freed_heap(int(sys.argv[1]))
def page():
    return [bytearray(2048) for _ in range(3000)]
page()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    page()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def faults_per_page(keep_bytes: int) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_PAGE, str(keep_bytes)], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    return out[0], float(out[1])


def test_kept_heap_is_reused_instead_of_faulted_in_again_for_every_page():
    # A page's worth of heap (6 MB in blocks above pymalloc's 512-byte limit, freed together, as a parse
    # tree is): by default glibc trims the freed top of the heap and the next page faults it in afresh,
    # about 1,500 faults; kept, the next page reuses it. The parser's own churn varies with glibc's
    # adaptive thresholds, so it is not the workload here.
    kept, faults = faults_per_page(8 * MIB)
    default_kept, default_faults = faults_per_page(0)
    assert (kept, default_kept) == ("True", "False")
    assert faults < 20 < 1000 < default_faults, (faults, default_faults)
