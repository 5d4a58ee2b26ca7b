"""The schedule stores' tests run against SQLite and the session's private PostgreSQL (the sink's fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sink.conftest import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url", "schedule_url"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def schedule_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This test's own empty schedule database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'schedule.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
