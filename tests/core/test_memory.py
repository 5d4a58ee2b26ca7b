"""The memory budget is computed from configuration and checked against the limit."""

from __future__ import annotations

import pytest

from stages.core.config import MIB, KafkaConfig, RunnerConfig
from stages.core.errors import ConfigError
from stages.core.memory import budget, cgroup_limit_bytes, check_budget, effective_limit_bytes


def test_budget_adds_window_outputs_prefetch_producer_and_overhead():
    runner = RunnerConfig(max_in_flight_bytes=10 * MIB, memory_overhead_mb=50)
    kafka = KafkaConfig(fetch_max_bytes=4 * MIB, max_partition_fetch_bytes=1 * MIB, max_request_bytes=2 * MIB)
    planned = budget(runner, kafka, output_ratio=0.5)
    assert planned.total_bytes == (10 + 5 + 4 + 2 + 50) * MIB
    assert budget(runner, kafka, output_ratio=0.5, stage_bytes=3 * MIB).total_bytes == (10 + 5 + 4 + 2 + 3 + 50) * MIB


def test_a_budget_over_the_limit_refuses_to_start_and_says_what_to_tune():
    planned = budget(RunnerConfig(max_in_flight_bytes=900 * MIB), KafkaConfig(), output_ratio=1.0)
    with pytest.raises(ConfigError, match="--max-in-flight-bytes"):
        check_budget("parser", planned, 512 * MIB)


def test_the_cgroup_limit_wins_when_lower(tmp_path):
    limit_file = tmp_path / "memory.max"
    limit_file.write_text("268435456\n")
    assert cgroup_limit_bytes(limit_file) == 256 * MIB
    assert effective_limit_bytes(RunnerConfig(memory_limit_mb=1024), cgroup_limit_bytes(limit_file)) == 256 * MIB
    limit_file.write_text("max\n")
    assert cgroup_limit_bytes(limit_file) is None
    assert cgroup_limit_bytes(tmp_path / "absent") is None
