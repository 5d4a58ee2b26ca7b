"""Child process for the crash test: writes one batch and is killed inside its transaction.

usage: python crash_child.py STORAGE_URL BATCH_JSON

SQLite: a trace callback on the storage's connection announces
``in-transaction`` on stdout when the batch's first ``price_history`` insert
starts (the products upsert has run, nothing is committed yet), then blocks
that thread until the parent kills the process.

PostgreSQL: the parent holds a lock on ``price_history``, so the same insert
blocks inside the server; the parent sees the waiting lock in ``pg_locks``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from stages.sink.storage import open_storage

_connect = sqlite3.connect


def _connect_and_trace(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    conn = _connect(*args, **kwargs)
    conn.set_trace_callback(_announce_and_block)
    return conn


def _announce_and_block(statement: str) -> None:
    if statement.startswith("INSERT INTO price_history"):
        os.write(sys.stdout.fileno(), b"in-transaction\n")
        threading.Event().wait()


async def main(url: str, batch: list[dict[str, Any]]) -> None:
    storage = open_storage(url)
    await storage.start()
    await storage.write_batch(batch)
    await storage.close()


if __name__ == "__main__":
    sqlite3.connect = _connect_and_trace
    asyncio.run(main(sys.argv[1], orjson.loads(Path(sys.argv[2]).read_bytes())))
