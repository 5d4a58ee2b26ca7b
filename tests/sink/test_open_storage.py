"""``open_storage`` picks the backend from the URL and refuses anything else with a message that helps."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.core.errors import ConfigError, TransientError
from stages.sink.storage import BatchResult, open_storage
from stages.sink.storage.jsonl import JsonlStorage
from stages.sink.storage.postgres import PostgresStorage
from stages.sink.storage.sqlite import SQLiteStorage
from tests.sink.storage_helpers import product_record, started


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("sqlite:///:memory:", SQLiteStorage),
        ("sqlite:////var/lib/crawlpipe/products.db", SQLiteStorage),
        ("postgresql://postgres@127.0.0.1:55432/crawlpipe", PostgresStorage),
        ("jsonl:////var/lib/crawlpipe/out?max_bytes=1048576&max_seconds=60", JsonlStorage),
    ],
)
def test_the_scheme_picks_the_backend(url: str, backend: type) -> None:
    assert isinstance(open_storage(url), backend)


def test_an_unknown_scheme_is_refused_naming_the_value_and_the_accepted_forms_without_the_password() -> None:
    with pytest.raises(ConfigError) as refused:
        open_storage("mysql://sink:hunter2@db/crawlpipe")
    message = str(refused.value)
    assert "mysql://sink:***@db/crawlpipe" in message
    assert "hunter2" not in message
    assert all(form in message for form in ("sqlite:///", "postgresql://", "jsonl:///"))


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sqlite://", "malformed"),
        ("sqlite:///products.db?mode=ro", "malformed"),
        ("jsonl:///out?max_bytes=0", "max_bytes must be a single positive number"),
        ("jsonl:///out?max_seconds=soon", "max_seconds must be a single positive number"),
        ("jsonl:///out?max_bytes=1&max_bytes=2", "max_bytes must be a single positive number"),
        ("jsonl:///out?rotate=daily", "unknown parameter"),
    ],
)
def test_malformed_urls_are_refused(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        open_storage(url)


async def test_an_in_memory_sqlite_database_works_for_tests() -> None:
    async with started("sqlite:///:memory:") as storage:
        assert await storage.write_batch([product_record("a")]) == BatchResult(inserted=1, history_rows=1)


async def test_a_sqlite_file_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/missing/products.db")
    with pytest.raises(ConfigError, match="does its directory exist"):
        await storage.start()
    await storage.close()


async def test_an_unreachable_postgresql_server_is_a_transient_error() -> None:
    storage = open_storage("postgresql://postgres@127.0.0.1:1/crawlpipe")
    with pytest.raises(TransientError, match="127.0.0.1:1"):
        await storage.start()
