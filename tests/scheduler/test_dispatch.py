"""A dispatch round: only this replica's hosts, at most the budget, nothing while the fetchers lag."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from stages.core.fastpath.partitions import partition_for
from stages.core.stage import Emit
from stages.scheduler.dispatch import Dispatcher
from stages.scheduler.settings import SchedulerConfig
from stages.scheduler.store import DueUrl

HOSTS = [f"shop{n}.test" for n in range(40)]


class FakeStore:
    """Every host ready, one due URL each; remembers what was marked."""

    def __init__(self) -> None:
        self.marked: list[str] = []

    async def ready_hosts(self, now: float) -> list[str]:
        return list(HOSTS)

    async def earliest_due(self, hosts: Sequence[str], now: float) -> list[DueUrl]:
        return [DueUrl(f"id-{host}", f"http://{host}/p.html", host, "shop", 3600.0) for host in hosts]

    async def dispatched(self, urls: Sequence[DueUrl], now: float, host_spacing_seconds: float) -> None:
        self.marked += [url.host for url in urls]


def dispatcher(store: FakeStore, published: list[Emit], *, paused: frozenset[str] = frozenset(),
               mine: frozenset[int] = frozenset({1}), **settings: float) -> Dispatcher:
    async def publish(emits: Sequence[Emit]):
        published.extend(emits)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    return Dispatcher(store, SchedulerConfig(**settings), publish=publish,  # type: ignore[arg-type]
                      assignment=lambda: (mine, 2), paused=lambda: paused, clock=lambda: 1000.0)


async def test_a_replica_publishes_only_the_hosts_of_its_partitions_and_marks_them() -> None:
    store, published = FakeStore(), []
    await dispatcher(store, published).dispatch()
    own = [host for host in HOSTS if partition_for(host.encode(), [0, 1]) == 1]
    assert store.marked == own
    assert [orjson.loads(emit.value)["url"] for emit in published] == [f"http://{host}/p.html" for host in own]
    assert {emit.key for emit in published} == {host.encode() for host in own}
    assert {orjson.loads(emit.value)["purpose"] for emit in published} == {"recrawl"}


async def test_a_round_publishes_at_most_its_budget() -> None:
    store, published = FakeStore(), []
    await dispatcher(store, published, mine=frozenset({0, 1}), max_recrawls_per_second=4,
                     dispatch_interval_seconds=2).dispatch()
    assert len(published) == 8 == len(store.marked)


async def test_nothing_is_published_while_the_fetchers_lag_or_memory_is_short() -> None:
    for reason in ("lag", "memory"):
        store, published = FakeStore(), []
        await dispatcher(store, published, paused=frozenset({reason})).dispatch()
        assert published == [] and store.marked == []
