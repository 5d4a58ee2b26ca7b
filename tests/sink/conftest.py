"""Fixtures for the storage tests: every semantic test runs against SQLite and a real PostgreSQL.

PostgreSQL is one private server per session, started with ``ops/postgres/start``
on a free port and stopped with ``ops/postgres/stop``; each test gets its own
database in it, and its own SQLite file, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import pytest

from tests.conftest import free_port
from tests.sink.storage_helpers import Database

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's PostgreSQL server's ``crawlpipe`` database.

    ``CRAWLPIPE_TEST_POSTGRES`` points the suite at a running server instead (handy while developing).
    """
    given = os.environ.get("CRAWLPIPE_TEST_POSTGRES")
    if given:
        yield given
        return
    # Under /tmp rather than pytest's tmp_path: the server runs as the postgres user, which
    # cannot enter root's private pytest directory.
    data_dir = tempfile.mkdtemp(prefix="crawlpipe-pg-test-")
    try:
        started = subprocess.run(
            [REPO / "ops/postgres/start", "--data-dir", data_dir, "--port", str(free_port())],
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            pytest.fail(f"ops/postgres/start failed ({started.returncode}):\n{started.stderr}")
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([REPO / "ops/postgres/stop", "--data-dir", data_dir], check=True)
        shutil.rmtree(data_dir)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the session's server, dropped after the test."""
    name = f"test_{uuid4().hex}"
    _run_coroutine(_admin, postgres_server, f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(postgres_server)._replace(path=f"/{name}"))
    finally:
        _run_coroutine(_admin, postgres_server, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """This test's own empty database, once per backend."""
    if request.param == "sqlite":
        return Database("sqlite", f"sqlite:///{tmp_path / 'crawlpipe.db'}")
    return Database("postgresql", request.getfixturevalue("postgres_url"))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run_coroutine(function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run a coroutine from a sync fixture on its own thread, away from the test's event loop."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, function(*args)).result()
