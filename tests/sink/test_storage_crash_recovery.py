"""A sink killed in the middle of a batch's transaction loses nothing and duplicates nothing once the batch is redelivered."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest

from stages.sink.storage import BatchResult
from tests.sink.storage_helpers import Database, at, instant, product_record, started

CHILD = Path(__file__).with_name("crash_child.py")
REPO = Path(__file__).resolve().parents[2]
# The child's price_history insert, waiting for our lock: its products upsert has run, uncommitted.
BLOCKED_HISTORY_INSERTS = """
    SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)
    WHERE relation = 'price_history'::regclass AND NOT granted
      AND query LIKE 'INSERT INTO price_history%'
"""
WAIT_SECONDS = 60.0


async def test_killed_mid_batch_then_redelivered_leaves_one_row_per_product_with_newest_values(
    db: Database, tmp_path: Path
) -> None:
    ids = [f"p{number:05d}" for number in range(3000)]
    known, unseen = ids[:2000], ids[2000:]
    async with started(db.url) as storage:
        await storage.write_batch(
            [product_record(product_id, price="10.00", fetched_at=at(0)) for product_id in known]
        )
    batch = [product_record(product_id, price="20.00", fetched_at=at(60)) for product_id in ids]
    batch_file = tmp_path / "batch.json"
    batch_file.write_bytes(orjson.dumps(batch))

    await _kill_inside_transaction(db, batch_file)

    rows = await db.products()
    assert sorted(rows) == known, "nothing of the killed batch may be visible"
    assert {row["price"] for row in rows.values()} == {Decimal("10.00")}
    assert len(await db.history()) == len(known)

    async with started(db.url) as storage:
        redelivered = await storage.write_batch(batch)
        again = await storage.write_batch(batch)
    assert redelivered == BatchResult(inserted=len(unseen), updated=len(known), history_rows=len(ids))
    assert again == BatchResult(stale_skipped=len(ids))
    rows = await db.products()
    assert sorted(rows) == ids
    assert {(row["price"], row["fetched_at"]) for row in rows.values()} == {(Decimal("20.00"), instant(60))}
    assert len(await db.history()) == len(known) + len(ids)


async def _kill_inside_transaction(db: Database, batch_file: Path) -> None:
    """Start the child writing ``batch_file``, SIGKILL it once its transaction has written rows."""
    blocker = None
    if db.kind == "postgresql":
        blocker = await asyncpg.connect(db.url)
        await blocker.execute("BEGIN; LOCK TABLE price_history IN EXCLUSIVE MODE")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        db.url,
        str(batch_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        if blocker is None:
            announced = await asyncio.wait_for(child.stdout.readline(), WAIT_SECONDS)
            if announced != b"in-transaction\n":
                pytest.fail(
                    f"the child did not reach its transaction: {(await child.stderr.read()).decode()}"
                )
        else:
            await _wait_for_blocked_insert(db.url, child)
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()
        if blocker is not None:
            await blocker.execute("ROLLBACK")
            await blocker.close()
    assert child.returncode == -signal.SIGKILL


async def _wait_for_blocked_insert(url: str, child: asyncio.subprocess.Process) -> None:
    # PostgreSQL has no event for "someone waits for my lock"; poll its lock table, bounded. The
    # observer is not the lock holder: inside a transaction pg_stat_activity is a frozen snapshot.
    observer = await asyncpg.connect(url)
    try:
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while not await observer.fetchval(BLOCKED_HISTORY_INSERTS):
            if child.returncode is not None:
                pytest.fail(f"the child exited ({child.returncode}): {(await child.stderr.read()).decode()}")
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail("the child never reached its price_history insert")
            await asyncio.sleep(0.01)
    finally:
        await observer.close()
