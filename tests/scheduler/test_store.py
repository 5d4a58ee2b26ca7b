"""The schedule stores, SQLite and PostgreSQL alike: due hosts, one URL each, marks, counts, migrations."""

from __future__ import annotations

from stages.scheduler.policy import Policy
from stages.scheduler.settings import SchedulerConfig
from stages.scheduler.store import open_store
from tests.scheduler.helpers import DAY, discontinued, product

T0 = 1_700_000_000.0
POLICY = Policy(SchedulerConfig(max_misses=1))


async def test_a_host_gives_its_earliest_due_url_and_waits_its_spacing_once_marked(schedule_url: str) -> None:
    store = open_store(schedule_url, POLICY, cache_mb=4)
    await store.start()
    try:
        await store.write_batch([product("late", "a.test", "1.00", T0 + 60), product("early", "a.test", "1.00", T0),
                                 product("other", "b.test", "1.00", T0 + 5 * DAY)])
        now = T0 + DAY + 60
        assert await store.ready_hosts(now) == ["a.test"]
        due = await store.earliest_due(["a.test"], now)
        assert [url.product_id for url in due] == ["early"]
        await store.dispatched(due, now, host_spacing_seconds=120)
        assert await store.ready_hosts(now + 119) == []
        assert [url.product_id for url in await store.earliest_due(await store.ready_hosts(now + 120), now + 120)] \
            == ["late"]
    finally:
        await store.close()


async def test_counts_cover_the_whole_schedule(schedule_url: str) -> None:
    store = open_store(schedule_url, POLICY, cache_mb=4)
    await store.start()
    try:
        await store.write_batch([product(f"a{n}", "a.test", "1.00", T0) for n in range(3)]
                                + [product("b", "b.test", "1.00", T0 - DAY), product("gone", "c.test", "1.00", T0),
                                   discontinued("gone", "c.test", T0 + 1)])
        counts = await store.counts(T0 + DAY, overdue_after_seconds=3600, top_hosts=1)
        assert (counts.scheduled, counts.due, counts.overdue, counts.unscheduled) == (4, 4, 1, 1)
        assert counts.per_host == [("a.test", 3)]
    finally:
        await store.close()


async def test_a_restarted_store_migrates_nothing_twice_and_keeps_its_rows(schedule_url: str) -> None:
    for _ in range(2):
        store = open_store(schedule_url, POLICY, cache_mb=4)
        await store.start()
        try:
            await store.write_batch([product("p", "a.test", "1.00", T0)])
            counts = await store.counts(T0, overdue_after_seconds=3600, top_hosts=5)
        finally:
            await store.close()
    assert counts.per_host == [("a.test", 1)]
