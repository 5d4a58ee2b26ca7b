"""Shared fixtures: a real Kafka broker for the session, unique topics per test, stage processes.

The broker is started by the project's own ``ops/kafka/start`` on a free
port with its own data directory, so two runs never collide, and stopped at
the end. It has a second, SASL_SSL listener with certificates made for the
run (``ops/kafka/certs``) for the secured-cluster tests.
``CRAWLPIPE_TEST_BOOTSTRAP`` points the suite at a running broker instead
(handy while developing; the secured-cluster tests are then skipped).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stages.core.settings import KafkaConfig
from stages.core.topics import TopicsConfig, create

ROOT = Path(__file__).resolve().parents[1]
SHOP_RULES = ROOT / "stages" / "demoshop" / "rules.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Broker:
    """The session's broker: its PLAINTEXT address, and its SASL_SSL address with the CA that signed it."""

    bootstrap: str
    secure_bootstrap: str | None = None
    ca_file: Path | None = None


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    given = os.environ.get("CRAWLPIPE_TEST_BOOTSTRAP")
    if given:
        yield Broker(given)
        return
    data_dir = tmp_path_factory.mktemp("kafka")
    tls_dir = data_dir / "tls"
    subprocess.run([sys.executable, str(ROOT / "ops/kafka/certs"), "--dir", str(tls_dir)], check=True, timeout=60)
    port, controller, secure = free_port(), free_port(), free_port()
    started = subprocess.run(
        [str(ROOT / "ops/kafka/start"), "--data-dir", str(data_dir), "--port", str(port),
         "--controller-port", str(controller), "--sasl-ssl-port", str(secure), "--tls-dir", str(tls_dir)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert started.returncode == 0, f"broker did not start:\n{started.stdout}\n{started.stderr}"
    try:
        yield Broker(started.stdout.strip().splitlines()[-1], f"127.0.0.1:{secure}", tls_dir / "ca.pem")
    finally:
        subprocess.run([str(ROOT / "ops/kafka/stop"), "--data-dir", str(data_dir)], timeout=60, check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    return kafka_broker.bootstrap


async def fresh_kafka_config(bootstrap: str, partitions: int = 2) -> KafkaConfig:
    """Fresh topics and group names, created with ``partitions`` partitions each."""
    run = uuid.uuid4().hex[:10]
    config = KafkaConfig(
        bootstrap=bootstrap,
        topic_urls=f"{run}.urls", topic_pages=f"{run}.pages",
        topic_products=f"{run}.products", topic_dlq=f"{run}.dlq",
        group_prefix=f"test-{run}",
    )
    await create(config, TopicsConfig(urls_partitions=partitions, pages_partitions=partitions,
                                      products_partitions=partitions))
    return config


@pytest.fixture
async def kafka_config(kafka_bootstrap: str) -> KafkaConfig:
    """Fresh topics and group names for one test, with two partitions each."""
    return await fresh_kafka_config(kafka_bootstrap)


def kafka_env(config: KafkaConfig) -> dict[str, str]:
    return {
        "CRAWLPIPE_BOOTSTRAP": config.bootstrap,
        "CRAWLPIPE_TOPIC_URLS": config.topic_urls,
        "CRAWLPIPE_TOPIC_PAGES": config.topic_pages,
        "CRAWLPIPE_TOPIC_PRODUCTS": config.topic_products,
        "CRAWLPIPE_TOPIC_DLQ": config.topic_dlq,
        "CRAWLPIPE_GROUP_PREFIX": config.group_prefix,
    }


@dataclass
class StageProcesses:
    """Stage processes started by a test; every one is stopped when the test ends."""

    base_env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, stage: str, name: str | None = None, **env: str) -> subprocess.Popen:
        name = name or stage
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "stages.cli", stage],
            env={**os.environ, **self.base_env, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        log.close()
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
        return process.wait(timeout=timeout)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            try:
                self.stop(name)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def stages(kafka_config: KafkaConfig, tmp_path: Path) -> Iterator[StageProcesses]:
    env = {
        **kafka_env(kafka_config),
        "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CRAWLPIPE_RULES": str(SHOP_RULES),
        "CRAWLPIPE_STORAGE": f"sqlite:///{tmp_path / 'products.db'}",
        "CRAWLPIPE_COMMIT_INTERVAL_SECONDS": "0.2",
        "CRAWLPIPE_BATCH_MAX_DELAY_SECONDS": "0.1",
        "CRAWLPIPE_LAG_CHECK_INTERVAL_SECONDS": "0.5",
        # A killed member is noticed after this; the broker's minimum is 6 s.
        "CRAWLPIPE_SESSION_TIMEOUT_SECONDS": "6",
    }
    processes = StageProcesses(env, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


def sqlite_rows(db: Path, sql: str) -> list[tuple]:
    """Rows of the sink's SQLite file; none until the sink has created it and its tables."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


async def eventually(check, *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``check`` (sync or async) until it returns a truthy value; the storage has no event to await."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
