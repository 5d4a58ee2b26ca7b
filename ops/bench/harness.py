"""What every benchmark under ops/bench/ shares: a private broker, the shop (live, or static on nginx), stage
processes, CPU and RSS readings, the machine's description.

Each benchmark starts what it measures itself, on loopback, and stops it in
``finally``; nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
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


def crawlpipe(*args: str, env: dict[str, str], stdout=None) -> None:
    """Run a ``crawlpipe`` command to its end; ``stdout`` as for ``subprocess.run`` (e.g. ``sys.stderr``)."""
    subprocess.run([sys.executable, "-m", "stages.cli", *args], env={**os.environ, **env}, check=True, cwd=ROOT,
                   stdout=stdout)


@dataclass
class Stages:
    """Stage processes with their logs in ``log_dir``."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, stage: str, profile: Path | None = None, **env: str) -> subprocess.Popen:
        """Start ``stage``; with ``profile``, under cProfile timed by CPU, its statistics written there at its exit."""
        profiler = [str(ROOT / "ops/bench/cpu_profile.py"), str(profile)] if profile else []
        with open(self.log_dir / f"{stage}.log", "ab") as log:
            process = subprocess.Popen([sys.executable, *profiler, "-m", "stages.cli", stage],
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


def growth_per_100k(points: list[tuple[float, float]], total: float, warmup: float = 0.1) -> float:
    """RSS growth in MB per 100,000 pages: the least-squares slope of RSS against pages processed,
    over the samples after the first ``warmup`` share of the run.

    A slope, not a difference of two windows: a leak tilts every sample, and
    the line's fit over the whole run is what a leak cannot hide from.
    """
    after = [(x, y) for x, y in points if x >= warmup * total]
    if len(after) < 2 or len({x for x, _ in after}) < 2:
        return 0.0
    return statistics.linear_regression([x for x, _ in after], [y for _, y in after]).slope * 100_000


def wait_until(check, timeout: float, interval: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- the static shop on nginx

def add_shop_run_arguments(parser: argparse.ArgumentParser, bench: str, *, timeout_seconds: float,
                           timeout_help: str, env_help: str) -> None:
    """The options of the benchmarks that crawl the static shop: where it and their output go, how long
    a run may take, and ``--crawlpipe-env NAME=VALUE`` settings (parsed into pairs) to try tuning."""
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache/e2e-shop", help="where shops are written")
    parser.add_argument("--out", type=Path, default=ROOT / "ops/bench/out" / f"{bench}-{int(time.time())}")
    parser.add_argument("--results", type=Path, default=ROOT / "ops/bench/results")
    parser.add_argument("--timeout-seconds", type=float, default=timeout_seconds, help=timeout_help)
    parser.add_argument("--crawlpipe-env", action="append", default=[], metavar="NAME=VALUE", type=_setting,
                        help=env_help)


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not name or not equals:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def shop_dir(cache: Path, pages: int, label: str = "bench") -> Path:
    """The static shop for ``pages``, written once; the marker is written last, so a partial tree is redone."""
    from stages.demoshop.catalog import Catalog
    from stages.demoshop.site import write_site

    directory = cache / str(pages)
    marker = directory / ".complete"
    if not marker.exists():
        started = time.monotonic()
        written = write_site(Catalog(pages), directory)
        marker.write_text(f"{written.files} files, {written.bytes} bytes\n")
        print(f"{label}: wrote {written.files} files ({written.bytes / 2**20:.0f} MB) in "
              f"{time.monotonic() - started:.0f} s to {directory}", file=sys.stderr)
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_conf(site: Path, state: Path, port: int, addresses: tuple[str, ...] = ("127.0.0.1",)) -> str:
    # A root master hands requests to workers running as "user" (default nobody, which may not
    # read the cache); running them as whoever runs the benchmark needs no permission changes.
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {state / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
    listen = "\n".join(f"        listen {address}:{port};" for address in addresses)
    return f"""{user}worker_processes 1;
daemon off;
pid {state / 'nginx.pid'};
error_log {state / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    types {{ text/html html; text/plain txt; }}
    default_type application/octet-stream;
    server {{
{listen}
        root {site};
    }}
}}
"""


@contextlib.contextmanager
def nginx(site: Path, addresses: tuple[str, ...] = ("127.0.0.1",)) -> Iterator[tuple[str, psutil.Process]]:
    """nginx serving ``site`` on a free port of each loopback address in ``addresses`` (one worker, keep-alive
    on, access log off); yields the first address's base URL and the master process (the others differ
    only in the address). ``ops/bench/ensure-debian-package nginx`` installs it."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        state = Path(tmp)
        port = free_port()
        (state / "nginx.conf").write_text(nginx_conf(site, state, port, addresses))
        process = subprocess.Popen([binary, "-p", str(state), "-e", str(state / "error.log"),
                                    "-c", str(state / "nginx.conf")], stderr=subprocess.PIPE, text=True)
        base = f"http://{addresses[0]}:{port}"
        try:
            def answers() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"nginx exited: {process.stderr.read()}")
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{base}/robots.txt", timeout=2) as response:
                        return response.status == 200
                return False
            wait_until(answers, timeout=30, interval=0.2, what="nginx")
            yield base, psutil.Process(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot, every core together."""
    times = psutil.cpu_times()._asdict()
    # Linux counts guest time inside user time already.
    idle = sum(times.get(name, 0.0) for name in ("idle", "iowait", "guest", "guest_nice"))
    return sum(times.values()) - idle


def tree_cpu_seconds(process: psutil.Process) -> float:
    """CPU of a process and its live children (nginx's worker)."""
    return sum(cpu_seconds(p.pid) for p in [process, *process.children()])


def machine() -> str:
    """One line for a results file: cores, CPU model, memory, kernel, Python, and the load before the run."""
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"`nproc` = {os.cpu_count()} ({cpu_model}), {memory:.1f} GiB memory, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; load average before the run: {load}")


async def record_span_seconds(config, topic: str) -> float:
    """Seconds between the first and the last record's timestamp in ``topic`` (a ``KafkaConfig``), all partitions.

    Producer timestamps: a stage's rate over them leaves its start-up and group join out.
    """
    from stages.core import kafka

    admin = kafka.admin(config, client_id="bench-span")
    await admin.start()
    try:
        tps = await kafka.topic_partitions(admin, topic)
    finally:
        await admin.close()
    consumer = kafka.consumer(config, group=None, client_id="bench-span")
    await consumer.start()
    try:
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        stamps = []
        for tp in tps:
            if ends[tp] <= starts[tp]:
                continue
            for offset in (starts[tp], ends[tp] - 1):
                consumer.seek(tp, offset)
                stamps.append((await consumer.getone(tp)).timestamp)
    finally:
        await consumer.stop()
    return (max(stamps) - min(stamps)) / 1000


@contextlib.asynccontextmanager
async def monitor_clients(config, name: str) -> AsyncIterator[tuple]:
    """A started admin client and a group-less probe consumer on ``config`` (a ``KafkaConfig``), to poll progress."""
    from stages.core import kafka

    admin = kafka.admin(config, client_id=f"{name}-monitor")
    await admin.start()
    try:
        probe = kafka.consumer(config, group=None, client_id=f"{name}-probe")
        await probe.start()
        try:
            yield admin, probe
        finally:
            await probe.stop()
    finally:
        await admin.close()
