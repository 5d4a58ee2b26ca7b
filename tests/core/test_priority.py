"""``--nice``: a stage process lowers its own CPU priority, never raises it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = ("import os; from stages.cli import _lower_priority; "
         "_lower_priority({nice}); print(os.getpriority(os.PRIO_PROCESS, 0))")


def niceness_after(nice: int, *, started_at: int | None = None) -> int:
    """The niceness of a fresh process that asked for ``nice``, started at ``started_at`` (default: ours)."""
    argv = [sys.executable, "-c", CHILD.format(nice=nice)]
    if started_at is not None:
        argv = ["nice", "-n", str(started_at - os.getpriority(os.PRIO_PROCESS, 0)), *argv]
    return int(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def test_a_stage_runs_at_its_nice_setting() -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    if ours >= 10:
        pytest.skip(f"the test process already runs at niceness {ours}")
    assert niceness_after(10) == 10


def test_a_process_already_running_lower_stays_there() -> None:
    assert niceness_after(10, started_at=15) == 15


def test_nice_0_leaves_the_priority_alone() -> None:
    assert niceness_after(0) == os.getpriority(os.PRIO_PROCESS, 0)
