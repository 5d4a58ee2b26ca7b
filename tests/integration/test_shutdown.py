"""SIGTERM: finished work is committed, unfinished work is abandoned uncommitted and redone after a restart."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiokafka import TopicPartition

from stages.core import kafka
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually

pytestmark = pytest.mark.kafka


@pytest.fixture
async def site():
    """Fast pages, and one page that answers only when the test releases it."""
    release = asyncio.Event()
    asked = asyncio.Event()

    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>fast</body></html>", content_type="text/html")

    async def slow(request: web.Request) -> web.Response:
        asked.set()
        await release.wait()
        return web.Response(text="<html><body>slow</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/fast/{n}", fast)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    port = server._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", asked, release
    finally:
        release.set()
        await runner.cleanup()


async def test_sigterm_commits_what_finished_and_leaves_the_rest_for_the_restart(
        kafka_config, stages: StageProcesses, site):
    base, asked, release = site
    urls = [f"{base}/fast/1", f"{base}/slow", f"{base}/fast/2"]
    await publish(kafka_config, [u + "\n" for u in urls])
    stages.start("fetcher", CRAWLPIPE_SHUTDOWN_TIMEOUT_SECONDS="1", CRAWLPIPE_OBEY_ROBOTS="false")
    probe = kafka.consumer(kafka_config, group=None, client_id="probe")
    await probe.start()
    pages = [TopicPartition(kafka_config.topic_pages, p) for p in range(2)]
    try:
        async def fetched_at_least(count: int) -> bool:
            return sum((await probe.end_offsets(pages)).values()) >= count

        await asyncio.wait_for(asked.wait(), 30)
        await eventually(lambda: fetched_at_least(2), what="both fast pages")
        assert stages.stop("fetcher") == 0
        assert "abandoned 1 messages being handled or awaiting acknowledgement" in stages.log("fetcher")

        # All three URLs share a host, so a partition: its commit must stop before the slow one.
        url_ends = await probe.end_offsets([TopicPartition(kafka_config.topic_urls, p) for p in range(2)])
        urls_tp = next(tp for tp, end in url_ends.items() if end == 3)
        admin = kafka.admin(kafka_config, client_id="probe-admin")
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(kafka_config.group("fetcher"), partitions=[urls_tp])
        finally:
            await admin.close()
        assert offsets[urls_tp].offset == 1

        release.set()
        stages.start("fetcher", name="fetcher-again", CRAWLPIPE_OBEY_ROBOTS="false")
        await eventually(lambda: fetched_at_least(3), what="the slow page after the restart")
    finally:
        await probe.stop()

