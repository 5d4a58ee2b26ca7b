"""Every command shown in docs/quickstart.md runs, in order, as a reader would run it.

The page's ``sh`` blocks become one bash script (``set -euo pipefail``), run in a
copy of the repository with the project's ``.venv`` and Kafka jars linked in and
on free ports (the page reads ``KAFKA_PORT`` and ``SHOP_PORT``), so a reader's own
quick start or a second test session is never disturbed. After each block the
script prints a marker, so the test knows that every block ran to its end. The
script runs in a session of its own: whatever it leaves running is stopped at
the end, and so is its broker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "docs" / "quickstart.md"
SCRIPT_TIMEOUT_SECONDS = 300
# Left out of the copy: the linked-in venv and jar cache, git's store, and what runs write.
_NOT_COPIED = {".venv", ".cache", ".git", "var", "site"}
_NEVER_COPIED = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache"}


def shell_blocks(markdown: str) -> list[str]:
    """The ```sh blocks of a Markdown page, in order (output examples are ```text and not run)."""
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


def _ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == ROOT
    ignored = {n for n in names if n in _NEVER_COPIED or n.endswith(".egg-info")}
    if top:
        ignored |= _NOT_COPIED & set(names)
    if Path(directory) == ROOT / "ops" / "bench":
        ignored.add("out")
    return ignored


def _sandbox(tmp_path: Path) -> Path:
    """A copy of the repository (file times kept, so make sees what it sees here) sharing .venv and .cache."""
    # The venv must be current before the copy's `make setup` sees it, or make would reinstall the
    # package from the copy: bring it up to date here first, as `make test` does.
    stale = subprocess.run(["make", "-q", ".venv/.installed"], cwd=ROOT, capture_output=True, check=False)
    if stale.returncode != 0:
        subprocess.run(["make", "setup"], cwd=ROOT, check=True, capture_output=True, timeout=600)
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=_ignore, symlinks=True)
    for shared in (".venv", ".cache"):
        if (ROOT / shared).exists():
            (repo / shared).symlink_to(ROOT / shared)
    return repo


def _free_port_pair() -> int:
    """A free port whose successor is free too: the broker's controller listens on port + 1."""
    port = free_port()
    while _listening(port + 1):
        port = free_port()
    return port


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_session(process: subprocess.Popen) -> None:
    """Stop the script and every process it started in its session (background jobs of a failed run)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # the session is empty: the page's own stop step ended everything


@pytest.mark.timeout(SCRIPT_TIMEOUT_SECONDS + 120)
def test_every_quick_start_command_runs(tmp_path: Path) -> None:
    blocks = shell_blocks(QUICKSTART.read_text())
    assert len(blocks) >= 5, "docs/quickstart.md lost its ```sh blocks"
    repo = _sandbox(tmp_path)
    script = repo / "quickstart.sh"
    script.write_text("set -euo pipefail\n" + "".join(
        f"{block}echo 'quickstart: block {n} done'\n" for n, block in enumerate(blocks, 1)))
    kafka_port, shop_port = _free_port_pair(), free_port()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("CRAWLPIPE_") or name == "CRAWLPIPE_KAFKA_HOME"}
    env.update(KAFKA_PORT=str(kafka_port), SHOP_PORT=str(shop_port))
    env.pop("VIRTUAL_ENV", None)
    log = tmp_path / "quickstart.log"

    with log.open("wb") as out:
        process = subprocess.Popen(["bash", str(script)], cwd=repo, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        returncode: int | str = process.wait(timeout=SCRIPT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        returncode = f"timed out after {SCRIPT_TIMEOUT_SECONDS} s"
    try:
        still_listening = [port for port in (shop_port, kafka_port) if _listening(port)]
    finally:
        _stop_session(process)
        subprocess.run([str(repo / "ops/kafka/stop"), "--data-dir", str(repo / "var/quickstart/kafka")],
                       capture_output=True, timeout=60, check=False)

    output = log.read_text(errors="replace")
    assert returncode == 0, f"the quick start failed (exit status or timeout: {returncode}):\n{output[-4000:]}"
    for n in range(1, len(blocks) + 1):
        assert f"quickstart: block {n} done" in output, f"block {n} did not finish:\n{output[-4000:]}"
    records = [json.loads(line) for line in output.splitlines() if line.startswith('{"topic":"crawl.products"')]
    assert len(records) == 2, output[-4000:]
    assert all(r["value"]["site"] == "demoshop" and r["value"]["price_ok"] for r in records)
    assert "crawl.dlq is empty" in output
    assert re.search(r"^replay: re-parsed [1-9]\d* pages of crawl.pages", output, flags=re.MULTILINE), output[-4000:]
    assert not still_listening, f"the stop step left ports {still_listening} open"
    with sqlite3.connect(repo / "var/quickstart/products.db") as db:
        stored = {row[0] for row in db.execute("SELECT id FROM products")}
    assert {r["value"]["id"] for r in records} <= stored
