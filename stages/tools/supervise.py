"""``crawlpipe run``: the three stages as supervised child processes, for local use.

Each stage runs in its own OS process (as in production); a child that dies
is restarted after a short back-off, and SIGTERM/SIGINT are passed on so each
stage shuts down gracefully and commits what it finished.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

log = logging.getLogger("crawlpipe.run")

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


async def supervise(replicas: dict[str, int], env: dict[str, str], *, metrics_port: int = 0) -> int:
    """Run the children until SIGTERM/SIGINT; returns the exit code.

    With ``metrics_port``, the children serve metrics on consecutive ports
    from it (``crawlpipe status --metrics-ports`` finds them there).
    """
    stopping = asyncio.Event()
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
    return 0


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
