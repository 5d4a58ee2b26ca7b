"""Pages whose links are already published, so a parser on a reset group does not publish them again.

Re-parsing the Kafka way (stop the parsers, reset the parser group's
offsets to the earliest, start them) re-reads every stored page. Its
products are wanted again; its links are not: the fetcher would download
every followed page a second time. The parser group's committed offsets
say how far links were followed, until the reset moves them back, so the
highest offsets that group ever committed are kept in a second group,
``<prefix>-parser-followed``, which has no members and which nothing resets.
A parser reads that mark once at start: pages below it have had their links
published, and are parsed for products only. While it runs it keeps the mark
up with the parser group's commits (every ``SAVE_INTERVAL_SECONDS`` and at
stop), never lowering it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stages.core import kafka
from stages.core.deadline import within
from stages.core.envelope import Envelope
from stages.core.settings import KafkaConfig

log = logging.getLogger("crawlpipe.parser")

SAVE_INTERVAL_SECONDS = 5.0
COORDINATOR_ATTEMPTS = 20


class FollowedPages:
    def __init__(self, kafka_config: KafkaConfig) -> None:
        self._kafka = kafka_config
        self.group = kafka_config.group("parser-followed")
        self._mark: dict[int, int] = {}
        self._partitions: list[TopicPartition] = []
        self._admin: AIOKafkaAdminClient | None = None
        self._committer: AIOKafkaConsumer | None = None
        self._saving: asyncio.Task[None] | None = None

    def followed(self, envelope: Envelope) -> bool:
        """Whether this page's links were published before this parser started."""
        return envelope.offset < self._mark.get(envelope.partition, 0)

    async def start(self) -> None:
        self._admin = kafka.admin(self._kafka, client_id="crawlpipe-parser-followed")
        await kafka.start(self._admin, self._kafka)
        self._committer = kafka.consumer(self._kafka, group=self.group, client_id="crawlpipe-parser-followed")
        await kafka.start(self._committer, self._kafka)
        self._partitions = await kafka.topic_partitions(self._admin, self._kafka.topic_pages)
        self._committer.assign(self._partitions)
        self._mark = await self._save()
        if any(self._mark.values()):
            log.info("links of pages below offsets %s of %s were published already: not following them again",
                     dict(sorted(self._mark.items())), self._kafka.topic_pages)
        self._saving = asyncio.create_task(self._keep_saving())

    async def stop(self) -> None:
        if self._saving is not None:
            self._saving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saving
            try:
                await asyncio.wait_for(self._save(), SAVE_INTERVAL_SECONDS)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("the followed-pages mark was not saved at stop (%r): it lags by at most %.0f s of "
                            "commits, whose pages' links a reset parser would publish again", exc,
                            SAVE_INTERVAL_SECONDS)
        for client in (self._committer, self._admin):
            if client is not None:
                await within(kafka.close(client, self._kafka), "the followed-pages client's stop")

    async def _keep_saving(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL_SECONDS)
            try:
                await self._save()
            except (KafkaError, OSError, TimeoutError) as exc:
                # The broker is away: the mark stays where it was and is raised once it is back.
                log.warning("followed-pages mark not saved, trying again in %.0f s: %r", SAVE_INTERVAL_SECONDS, exc)

    async def _save(self) -> dict[int, int]:
        """Raise the mark to the parser group's committed offsets where they are higher; return it."""
        assert self._admin is not None and self._committer is not None
        parsed = await self._committed(self._kafka.group("parser"))
        mark = await self._committed(self.group)
        higher = {tp: offset for tp, offset in parsed.items() if offset > mark.get(tp, 0)}
        if higher:
            await self._committer.commit(higher)
        return {tp.partition: max(parsed.get(tp, 0), mark.get(tp, 0)) for tp in self._partitions}

    async def _committed(self, group: str) -> dict[TopicPartition, int]:
        assert self._admin is not None
        for attempt in range(COORDINATOR_ATTEMPTS):
            try:
                offsets = await self._admin.list_consumer_group_offsets(group, partitions=self._partitions)
            except KafkaError as exc:
                # A fresh cluster answers "coordinator not available" while it creates its offsets topic.
                if not exc.retriable or attempt == COORDINATOR_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5)
            else:
                return {tp: meta.offset for tp, meta in offsets.items() if meta.offset > 0}
        raise AssertionError("unreachable")
