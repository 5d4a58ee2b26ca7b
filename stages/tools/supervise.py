"""``crawlpipe run``: the three stages as supervised child processes, for local use.

Each stage runs in its own OS process (as in production); a child that dies
is restarted after a short back-off, and SIGTERM/SIGINT are passed on so each
stage shuts down gracefully and commits what it finished. The stages ride out
a broker outage, but one that lasts past ``kafka_unreachable_exit_seconds``
needs a person: then every child is stopped and ``run`` exits 3.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

from aiokafka.errors import KafkaError

from stages.core import kafka
from stages.core.errors import KafkaUnavailable
from stages.core.settings import KafkaConfig

log = logging.getLogger("crawlpipe.run")

PROBE_INTERVAL_SECONDS = 5.0

RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0


@dataclass
class Child:
    stage: str
    index: int
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0

    @property
    def label(self) -> str:
        return f"{self.stage}-{self.index}"


async def supervise(replicas: dict[str, int], env: dict[str, str], *, kafka_config: KafkaConfig,
                    kafka_unreachable_exit_seconds: float, metrics_port: int = 0) -> int:
    """Run the children until SIGTERM/SIGINT (returns 0); raise KafkaUnavailable once Kafka is gone too long.

    With ``metrics_port``, the children serve metrics on consecutive ports
    from it (``crawlpipe status --metrics-ports`` finds them there).
    """
    stopping = asyncio.Event()
    unreachable = asyncio.create_task(_kafka_gone(kafka_config, kafka_unreachable_exit_seconds, stopping))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    children = [Child(stage, i) for stage, count in replicas.items() for i in range(count)]
    watchers = [asyncio.create_task(_keep_running(child, _child_env(env, metrics_port, n), stopping))
                for n, child in enumerate(children)]
    await stopping.wait()
    log.info("stopping %d stage processes", len(children))
    for child in children:
        if child.process and child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    await asyncio.gather(*watchers)
    unreachable.cancel()
    if await asyncio.gather(unreachable, return_exceptions=True) == [True]:
        raise KafkaUnavailable(f"Kafka at {kafka_config.bootstrap} unreachable for "
                               f"{kafka_unreachable_exit_seconds:.0f} s (--kafka-unreachable-exit-seconds): "
                               "every stage stopped; start a broker "
                               "(ops/kafka/start) or check --bootstrap / CRAWLPIPE_BOOTSTRAP")
    return 0


async def _kafka_gone(config: KafkaConfig, limit_seconds: float, stopping: asyncio.Event) -> bool:
    """Set ``stopping`` and return True once Kafka has been unreachable for ``limit_seconds``."""
    loop = asyncio.get_running_loop()
    since: float | None = None
    while True:
        if await _kafka_reachable(config):
            since = None
        else:
            since = loop.time() if since is None else since
            if loop.time() - since >= limit_seconds:
                stopping.set()
                return True
        await asyncio.sleep(min(PROBE_INTERVAL_SECONDS, limit_seconds / 2))


async def _kafka_reachable(config: KafkaConfig) -> bool:
    admin = kafka.admin(config, client_id="crawlpipe-run-probe")
    try:
        await asyncio.wait_for(admin.start(), PROBE_INTERVAL_SECONDS)
        await asyncio.wait_for(admin.describe_cluster(), PROBE_INTERVAL_SECONDS)
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return True


def _child_env(env: dict[str, str], metrics_port: int, n: int) -> dict[str, str]:
    return {**env, "CRAWLPIPE_METRICS_PORT": str(metrics_port + n if metrics_port else 0)}


async def _keep_running(child: Child, env: dict[str, str], stopping: asyncio.Event) -> None:
    delay = RESTART_DELAY_SECONDS
    while not stopping.is_set():
        child_env = {**os.environ, **env}
        child.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stages.cli", child.stage, env=child_env)
        log.info("started %s (pid %d)", child.label, child.process.pid)
        code = await child.process.wait()
        if stopping.is_set():
            log.info("%s exited with %d", child.label, code)
            return
        child.restarts += 1
        log.warning("%s exited with %d; restarting in %.0f s (restart %d)", child.label, code, delay,
                    child.restarts)
        try:
            await asyncio.wait_for(stopping.wait(), delay)
        except TimeoutError:
            delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)
