"""A broker and a PostgreSQL server a test may stop and start again, and a stage's /readyz to watch.

The session's broker is shared by every test, so outages are staged on
servers of their own, started with the project's ``ops/`` scripts on free
ports and stopped when the test ends.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.conftest import ROOT, free_port


@dataclass
class Server:
    """One ``ops/<kind>/start`` server in its own data directory, restartable on the same port."""

    kind: str
    data_dir: Path
    port: int
    controller_port: int = 0
    address: str = ""

    def start(self) -> str:
        args = [str(ROOT / f"ops/{self.kind}/start"), "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.kind == "kafka":
            args += ["--controller-port", str(self.controller_port)]
        started = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
        assert started.returncode == 0, f"{self.kind} did not start:\n{started.stdout}\n{started.stderr}"
        self.address = started.stdout.strip().splitlines()[-1]
        return self.address

    def stop(self) -> None:
        subprocess.run([str(ROOT / f"ops/{self.kind}/stop"), "--data-dir", str(self.data_dir)], timeout=120,
                       check=False, capture_output=True)


def server(kind: str) -> Server:
    # Under /tmp: PostgreSQL runs as its own user, which cannot enter pytest's private directories.
    return Server(kind, Path(tempfile.mkdtemp(prefix=f"crawlpipe-outage-{kind}-")), free_port(), free_port())


async def readiness(port: int) -> tuple[int, dict]:
    """(status, body) of a stage's /readyz; (0, {}) while nothing answers."""
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz") as response:
            return response.status, await response.json()
    except aiohttp.ClientError:
        return 0, {}
