"""What every benchmark under ops/bench/ shares: a private broker, the shop, stage processes, RSS sampling.

Each benchmark starts what it measures itself, on loopback, and stops it in
``finally``; nothing here is imported by the package.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def kafka_broker(state: Path, port: int) -> Iterator[str]:
    """A fresh single-node broker whose data lives under ``state``."""
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    result = subprocess.run([str(ROOT / "ops/kafka/start"), "--data-dir", str(state), "--port", str(port),
                             "--heap", "768m"], check=True, capture_output=True, text=True)
    try:
        yield result.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(ROOT / "ops/kafka/stop"), "--data-dir", str(state)], check=False)


def free_port_pair() -> int:
    """A free loopback port whose successor is free too (ops/kafka/start puts the controller there)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def broker_pid(state: Path) -> int:
    return int((state / "kafka.pid").read_text())


@contextlib.contextmanager
def shop(pages: int, *extra: str) -> Iterator[str]:
    """The demo shop in its own process; yields its base URL."""
    process = subprocess.Popen([sys.executable, "-m", "stages.demoshop", "--pages", str(pages), *extra],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        yield process.stdout.readline().strip()
    finally:
        stop(process)


def stop(process: subprocess.Popen, timeout: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def crawlpipe(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "stages.cli", *args], env={**os.environ, **env}, check=True, cwd=ROOT)


@dataclass
class Stages:
    """Stage processes with their logs in ``log_dir``."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, stage: str, **env: str) -> subprocess.Popen:
        with open(self.log_dir / f"{stage}.log", "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "stages.cli", stage],
                                       env={**os.environ, **self.env, **env}, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=ROOT)
        self.processes[stage] = process
        return process

    def stop_all(self) -> dict[str, int]:
        return {name: stop(process) for name, process in self.processes.items()}


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def growth_per_100k(points: list[tuple[float, float]], total: float) -> float:
    """RSS growth after warm-up in MB per 100,000 pages: median RSS over the last fifth of the run
    minus the median over the second fifth (the first fifth is warm-up), per page between them.

    Medians, because RSS jitters by a few MB as batches come and go; a leak moves
    the whole distribution and shows in full.
    """
    second = [y for x, y in points if 0.2 * total <= x < 0.4 * total]
    last = [y for x, y in points if x >= 0.8 * total]
    if not second or not last:
        return 0.0
    return (statistics.median(last) - statistics.median(second)) / (0.6 * total) * 100_000


def wait_until(check, timeout: float, interval: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
