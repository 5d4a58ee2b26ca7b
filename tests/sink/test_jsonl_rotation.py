"""The JSON-lines log: readers listing ``*.jsonl`` only ever see complete, unchanging files."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import orjson

from stages.sink.storage import BatchResult
from stages.sink.storage.jsonl import JsonlStorage
from tests.conftest import eventually
from tests.sink.storage_helpers import product_record, started


def _lines(directory: Path) -> list[dict]:
    return [
        orjson.loads(line)
        for path in sorted(directory.glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


async def test_readers_only_ever_see_complete_unchanging_files_while_files_rotate(tmp_path: Path) -> None:
    directory = tmp_path / "out"
    done = threading.Event()
    seen: dict[Path, bytes] = {}
    problems: list[str] = []

    def read_until_done() -> None:
        while not done.is_set():
            for path in directory.glob("*.jsonl"):
                data = path.read_bytes()
                if seen.setdefault(path, data) != data:
                    problems.append(f"{path.name} changed after it became visible")
                if not data.endswith(b"\n"):
                    problems.append(f"{path.name} does not end with a newline")
                for line in data.splitlines():
                    try:
                        orjson.loads(line)
                    except orjson.JSONDecodeError:
                        problems.append(f"{path.name} has a line that does not parse: {line[:80]!r}")

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        async with started(JsonlStorage(directory, max_bytes=4096)) as storage:
            for batch in range(200):
                await storage.write_batch([product_record(f"p{batch}-{n}") for n in range(10)])
    finally:
        done.set()
        reader.join()

    assert problems == []
    assert len(list(directory.glob("*.jsonl"))) >= 50, "the files should have rotated by size"
    assert sorted(record["id"] for record in _lines(directory)) == sorted(
        f"p{batch}-{n}" for batch in range(200) for n in range(10)
    )
    assert list(directory.glob(".*.part")) == []


async def test_the_open_file_is_hidden_until_close_finishes_it(tmp_path: Path) -> None:
    async with started(JsonlStorage(tmp_path)) as storage:
        result = await storage.write_batch([product_record("a"), product_record("a")])
        assert list(tmp_path.glob("*.jsonl")) == []
        assert len(list(tmp_path.glob(".*.jsonl.part"))) == 1
    assert result == BatchResult(inserted=2), "a log keeps every record, duplicates included"
    assert [record["id"] for record in _lines(tmp_path)] == ["a", "a"]
    assert list(tmp_path.glob(".*.part")) == []


async def test_files_rotate_by_age(tmp_path: Path) -> None:
    now = [0.0]
    async with started(JsonlStorage(tmp_path, max_seconds=10, clock=lambda: now[0])) as storage:
        await storage.write_batch([product_record("a")])
        now[0] = 9.0
        await storage.write_batch([product_record("b")])
        assert list(tmp_path.glob("*.jsonl")) == []
        now[0] = 10.0
        await storage.write_batch([product_record("c")])
        assert len(list(tmp_path.glob("*.jsonl"))) == 1, "the file reached its age when the batch arrived"
    files = sorted(tmp_path.glob("*.jsonl"))
    assert [[orjson.loads(line)["id"] for line in path.read_bytes().splitlines()] for path in files] == [
        ["a", "b"],
        ["c"],
    ]


async def test_start_finishes_a_crashed_writers_file_without_its_torn_line(tmp_path: Path) -> None:
    crashed = tmp_path / ".products-20240501T120000Z-0000.jsonl.part"
    crashed.write_bytes(
        orjson.dumps(product_record("a")) + b"\n" + orjson.dumps(product_record("b")) + b'\n{"id": "c", "ti'
    )
    only_torn = tmp_path / ".products-20240501T120000Z-0001.jsonl.part"
    only_torn.write_bytes(b'{"id": "d"')
    async with started(JsonlStorage(tmp_path)):
        pass
    assert [record["id"] for record in _lines(tmp_path)] == ["a", "b"]
    assert [path.name for path in tmp_path.iterdir()] == ["products-20240501T120000Z-0000.jsonl"]


async def test_start_leaves_a_file_another_live_writer_holds_alone(tmp_path: Path) -> None:
    live = tmp_path / ".products-20240501T120000Z-0000.jsonl.part"
    live.write_bytes(b'{"id": "a"')
    fd = os.open(live, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        async with started(JsonlStorage(tmp_path)):
            pass
        assert live.read_bytes() == b'{"id": "a"'
    finally:
        os.close(fd)


async def test_an_idle_file_is_finished_on_time_without_another_batch(tmp_path: Path) -> None:
    async with started(JsonlStorage(tmp_path, max_seconds=0.5)) as storage:
        await storage.write_batch([product_record("last-of-the-crawl")])
        assert list(tmp_path.glob("*.jsonl")) == []
        await eventually(lambda: list(tmp_path.glob("*.jsonl")), timeout=5, what="the idle file finished")
        assert [record["id"] for record in _lines(tmp_path)] == ["last-of-the-crawl"]
        assert list(tmp_path.glob(".*.part")) == []
