"""CPU quotas for benchmark processes: one cgroup per measured replica, so replicas never compete for cores.

A 2-core machine cannot show whether 4 replicas scale if each may take a whole
core; capped at a quarter of a core each, 1, 2 and 4 replicas all fit, and
their throughput ratio says how the stage scales, not how the machine is shared.

Two kernels' interfaces, found under ``root`` (``/sys/fs/cgroup``):

- cgroup v1: the ``cpu`` controller's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``,
  CPU time read from the ``cpuacct`` controller's ``cpuacct.usage`` (ns) and
  throttling from ``cpu.stat``;
- cgroup v2: ``cpu.max`` (``"<quota> <period>"``) and ``cpu.stat``
  (``usage_usec``, ``nr_throttled``, ``throttled_usec``), under a parent whose
  ``cgroup.subtree_control`` enables ``cpu``.

Where neither is writable, ``CpuQuotas.detect`` raises ``CgroupUnavailable`` with
what to do about it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
# The benchmark's parent group outweighs everything else on the machine (v1 cpu.shares' and v2
# cpu.weight's maximum): on a shared machine its replicas still get their quota, and since
# the quotas cap what they take, other work keeps the rest.
V1_TOP_SHARES = 262_144
V2_TOP_WEIGHT = 10_000


class CgroupUnavailable(RuntimeError):
    """No writable cgroup CPU controller: quotas cannot be set on this machine as this user."""


@dataclass(frozen=True)
class CpuUse:
    """What a group has used: CPU seconds, and how often and how long its quota stopped it."""

    cpu_seconds: float
    periods: int
    throttled_periods: int
    throttled_seconds: float

    def __sub__(self, earlier: CpuUse) -> CpuUse:
        return CpuUse(self.cpu_seconds - earlier.cpu_seconds, self.periods - earlier.periods,
                      self.throttled_periods - earlier.throttled_periods,
                      self.throttled_seconds - earlier.throttled_seconds)


def _read_stat(path: Path) -> dict[str, int]:
    return {name: int(value) for name, value in (line.split() for line in path.read_text().splitlines())}


@dataclass(frozen=True)
class CpuGroup:
    """One cgroup with a CPU quota; processes are moved in by pid."""

    cpu_dir: Path
    acct_dir: Path
    version: int
    cores: float | None

    def add(self, pid: int) -> None:
        """Move ``pid`` in; on v1 into the cpuacct hierarchy too, which may be mounted apart from cpu."""
        for directory in {self.cpu_dir, self.acct_dir}:
            (directory / "cgroup.procs").write_text(str(pid))

    def use(self) -> CpuUse:
        stat = _read_stat(self.cpu_dir / "cpu.stat")
        if self.version == 1:
            usage_seconds = int((self.acct_dir / "cpuacct.usage").read_text()) / 1e9
            throttled_seconds = stat["throttled_time"] / 1e9
        else:
            usage_seconds = stat["usage_usec"] / 1e6
            throttled_seconds = stat["throttled_usec"] / 1e6
        return CpuUse(usage_seconds, stat["nr_periods"], stat["nr_throttled"], throttled_seconds)

    def remove(self, timeout_seconds: float = 30.0) -> None:
        """Delete the group once its processes have exited (the kernel refuses while one is still in it)."""
        deadline = time.monotonic() + timeout_seconds
        for directory in {self.cpu_dir, self.acct_dir}:
            procs = directory / "cgroup.procs"
            while procs.exists() and procs.read_text().split():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{directory} still holds processes {procs.read_text().split()}")
                # A stopped process leaves its group when it has exited; there is no event to wait on.
                time.sleep(0.1)
            with contextlib.suppress(FileNotFoundError):
                directory.rmdir()


@dataclass(frozen=True)
class CpuQuotas:
    """Where new quota groups go: a parent directory per controller, and the interface's version."""

    cpu_parent: Path
    acct_parent: Path
    version: int

    @classmethod
    def detect(cls, name: str, root: Path = CGROUP_ROOT) -> CpuQuotas:
        """A parent group ``name`` for quota groups, on v1 if its cpu controller is mounted, else v2."""
        v1_cpu, v1_acct = root / "cpu", root / "cpuacct"
        if (v1_cpu / "cpu.cfs_quota_us").exists() and (v1_acct / "cpuacct.usage").exists():
            quotas = cls(v1_cpu / name, v1_acct / name, 1)
        elif "cpu" in _words(root / "cgroup.controllers"):
            quotas = cls(root / name, root / name, 2)
        else:
            raise CgroupUnavailable(
                f"no cgroup CPU controller under {root}: neither cgroup v1 (cpu/cpu.cfs_quota_us with "
                f"cpuacct/cpuacct.usage) nor cgroup v2 (cpu listed in cgroup.controllers). Run on Linux with "
                f"cgroups mounted, or in a container started with a writable cgroup (e.g. --privileged or "
                f"--cgroupns=private on a v2 host)")
        try:
            for directory in {quotas.cpu_parent, quotas.acct_parent}:
                directory.mkdir(exist_ok=True)
            if quotas.version == 2:
                (quotas.cpu_parent / "cgroup.subtree_control").write_text("+cpu")
                (quotas.cpu_parent / "cpu.weight").write_text(str(V2_TOP_WEIGHT))
            else:
                (quotas.cpu_parent / "cpu.shares").write_text(str(V1_TOP_SHARES))
        except OSError as error:
            where = "v2, enabling +cpu in cgroup.subtree_control" if quotas.version == 2 else "v1"
            raise CgroupUnavailable(
                f"cannot create cgroup {name} under {root} ({where}): {error}. Run as root, or as a user "
                f"delegated a cgroup subtree (systemd-run --user --scope -p Delegate=yes ...)") from error
        return quotas

    def group(self, name: str, cores: float | None) -> CpuGroup:
        """A new group limited to ``cores`` of CPU time (0.25 = a quarter of one core per period); None: no limit,
        only the parent's priority (for what the replicas need served: the broker, the site)."""
        if cores is not None and cores <= 0:
            raise ValueError(f"a CPU quota must be positive, got {cores} cores")
        group = CpuGroup(self.cpu_parent / name, self.acct_parent / name, self.version, cores)
        for directory in {group.cpu_dir, group.acct_dir}:
            directory.mkdir(exist_ok=True)
        if cores is None:
            return group
        quota = round(cores * PERIOD_US)
        if self.version == 1:
            (group.cpu_dir / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group.cpu_dir / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (group.cpu_dir / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        return group

    @contextlib.contextmanager
    def groups(self, prefix: str, count: int, cores: float | None) -> Iterator[list[CpuGroup]]:
        """``count`` fresh groups of ``cores`` each, removed afterwards (their processes must be gone by then)."""
        made = [self.group(f"{prefix}-{os.getpid()}-{i}", cores) for i in range(1, count + 1)]
        try:
            yield made
        finally:
            for group in made:
                group.remove()

    def remove(self) -> None:
        """Delete the parent once empty; another run's groups still in it keep it (EBUSY), which is fine."""
        for directory in {self.cpu_parent, self.acct_parent}:
            with contextlib.suppress(OSError):
                directory.rmdir()


def _words(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []
