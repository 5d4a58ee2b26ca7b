"""ops/bench/cgroups.py: quota files written for cgroup v1 and v2, a clear refusal without either, a real cap."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("bench_cgroups", ROOT / "ops/bench/cgroups.py")
assert _spec and _spec.loader
cgroups = importlib.util.module_from_spec(_spec)
sys.modules["bench_cgroups"] = cgroups
_spec.loader.exec_module(cgroups)


def v1_tree(root: Path) -> Path:
    (root / "cpu").mkdir(parents=True)
    (root / "cpu/cpu.cfs_quota_us").write_text("-1\n")
    (root / "cpuacct").mkdir()
    (root / "cpuacct/cpuacct.usage").write_text("0\n")
    return root


def test_v1_group_gets_a_cfs_quota_of_its_share_of_the_period(tmp_path):
    quotas = cgroups.CpuQuotas.detect("bench", v1_tree(tmp_path))
    group = quotas.group("replica-1", 0.25)
    assert quotas.version == 1
    assert (tmp_path / "cpu/bench/cpu.shares").read_text() == "262144"
    assert (tmp_path / "cpu/bench/replica-1/cpu.cfs_period_us").read_text() == "100000"
    assert (tmp_path / "cpu/bench/replica-1/cpu.cfs_quota_us").read_text() == "25000"
    group.add(4242)
    assert (tmp_path / "cpu/bench/replica-1/cgroup.procs").read_text() == "4242"
    assert (tmp_path / "cpuacct/bench/replica-1/cgroup.procs").read_text() == "4242"


def test_v1_use_reads_cpuacct_nanoseconds_and_cpu_stat_throttling(tmp_path):
    group = cgroups.CpuQuotas.detect("bench", v1_tree(tmp_path)).group("r", 0.5)
    (group.acct_dir / "cpuacct.usage").write_text("1500000000\n")
    (group.cpu_dir / "cpu.stat").write_text("nr_periods 40\nnr_throttled 10\nthrottled_time 250000000\n")
    assert group.use() == cgroups.CpuUse(cpu_seconds=1.5, periods=40, throttled_periods=10, throttled_seconds=0.25)


def test_v2_group_gets_cpu_max_and_the_parent_delegates_cpu(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    quotas = cgroups.CpuQuotas.detect("bench", tmp_path)
    group = quotas.group("r", 0.25)
    assert quotas.version == 2
    assert (tmp_path / "bench/cgroup.subtree_control").read_text() == "+cpu"
    assert (tmp_path / "bench/cpu.weight").read_text() == "10000"
    assert (group.cpu_dir / "cpu.max").read_text() == "25000 100000"
    (group.cpu_dir / "cpu.stat").write_text("usage_usec 2000000\nnr_periods 8\nnr_throttled 2\nthrottled_usec 100000\n")
    assert group.use() == cgroups.CpuUse(cpu_seconds=2.0, periods=8, throttled_periods=2, throttled_seconds=0.1)


def test_without_a_cpu_controller_detect_says_what_is_missing(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(cgroups.CgroupUnavailable, match="neither cgroup v1 .* nor cgroup v2"):
        cgroups.CpuQuotas.detect("bench", tmp_path)


def test_a_group_without_cores_gets_no_quota(tmp_path):
    group = cgroups.CpuQuotas.detect("bench", v1_tree(tmp_path)).group("services", None)
    assert not (group.cpu_dir / "cpu.cfs_quota_us").exists()


def test_a_quota_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="must be positive"):
        cgroups.CpuQuotas.detect("bench", v1_tree(tmp_path)).group("r", 0)


def test_a_busy_process_in_a_real_group_gets_no_more_than_its_quota():
    try:
        quotas = cgroups.CpuQuotas.detect("crawlpipe-test")
    except cgroups.CgroupUnavailable as error:
        pytest.skip(str(error))
    spin = "import time\nend = time.monotonic() + 1.0\nwhile time.monotonic() < end: pass\n"
    with quotas.groups("spin", 1, 0.2) as (group,):
        # Joined right after the spawn: at most the interpreter's first milliseconds run outside the group.
        child = subprocess.Popen([sys.executable, "-c", spin])
        try:
            group.add(child.pid)
            before = group.use()
            started = time.monotonic()
            child.wait(timeout=30)
            used = group.use() - before
            wall = time.monotonic() - started
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    quotas.remove()
    assert used.throttled_periods > 0
    assert used.cpu_seconds > 0.1 * wall
    # 0.2 core over the wall time, plus one period of slack for the tick the child joined in.
    assert used.cpu_seconds <= 0.2 * wall + 0.1
