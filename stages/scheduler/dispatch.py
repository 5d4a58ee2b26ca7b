"""Publishing due URLs: each replica its own hosts, one URL per host per round, bounded in all.

Every ``--dispatch-interval-seconds`` a replica, unless the fetchers' lag or
the memory guard pauses its input (then recrawls would only pile up in
``crawl.urls`` or in this process), (1) asks the store for the
hosts with a due URL whose rate allows one more; (2) keeps those whose
partition, murmur2 of the host among the products topic's partitions (the
partitioner Kafka uses for the URL topic's host keys), is one of its own
input partitions, so one host is dispatched by one replica; (3) takes at most
``dispatch_budget`` of them, the longest waiting first, and each one's
earliest due URL; (4) publishes them to the URL topic as ``purpose:
"recrawl"`` messages and waits for Kafka's acknowledgement; (5) marks them
dispatched: each URL due again one interval later (so it is not published
again before then), its host not before ``60 / --max-recrawls-per-host-per-minute``
seconds. A crash between (4) and (5) publishes those URLs once more
(at-least-once), never loses them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from stages.core.fastpath.partitions import partition_for
from stages.core.messages import encode_url
from stages.core.stage import Emit
from stages.scheduler import metrics
from stages.scheduler.settings import SchedulerConfig
from stages.scheduler.store import DueUrl, ScheduleStore

log = logging.getLogger("crawlpipe.scheduler")

Clock = Callable[[], float]
Publish = Callable[[Sequence[Emit]], Awaitable[asyncio.Future[None]]]
Assignment = Callable[[], tuple[frozenset[int], int]]
Paused = Callable[[], frozenset[str]]

# Pause reasons that hold dispatch back too: the URL topic's consumers lag, or memory is short.
HOLDING_REASONS = frozenset({"lag", "memory"})


class Dispatcher:
    def __init__(self, store: ScheduleStore, config: SchedulerConfig, *, publish: Publish,
                 assignment: Assignment, paused: Paused, clock: Clock) -> None:
        self._store = store
        self._paused = paused
        self._config = config
        self._publish = publish
        self._assignment = assignment
        self._clock = clock
        # Rounds never overlap: two would both find a host ready before either marked it.
        self._round = asyncio.Lock()

    async def dispatch(self) -> None:
        """One round: the module docstring's steps."""
        async with self._round:
            await self._dispatch()

    async def _dispatch(self) -> None:
        if self._paused() & HOLDING_REASONS:
            return
        mine, partitions = self._assignment()
        if not mine or not partitions:
            return
        now = self._clock()
        every = list(range(partitions))
        hosts = [host for host in await self._store.ready_hosts(now)
                 if partition_for(host.encode(), every) in mine][:self._config.dispatch_budget]
        if not hosts:
            return
        due = await self._store.earliest_due(hosts, now)
        acknowledged = await self._publish([_recrawl(url) for url in due])
        await acknowledged
        await self._store.dispatched(due, now, self._config.host_spacing_seconds)
        metrics.dispatched(len(due))
        log.debug("dispatched %d recrawl URLs of %d hosts", len(due), len(hosts))


def _recrawl(url: DueUrl) -> Emit:
    key, value = encode_url({"url": url.url, "depth": 0, "site": url.site, "attempt": 1, "purpose": "recrawl",
                             "product": url.product_id})
    return Emit("urls", value, key)
