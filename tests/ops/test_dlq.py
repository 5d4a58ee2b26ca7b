"""`crawlpipe dlq` summarises failures; `crawlpipe redrive` sends them back to the stage they failed in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from stages.core import kafka
from stages.tools.publish import publish
from tests.conftest import ROOT, StageProcesses, kafka_env
from tests.integration.test_pipeline import read_topic

pytestmark = pytest.mark.kafka


class Shop:
    """A page that answers 404 until the test fixes it."""

    def __init__(self) -> None:
        self.fixed = False

    async def item(self, request: web.Request) -> web.Response:
        if not self.fixed:
            return web.Response(status=404, text="gone")
        return web.Response(text="<html><title>back</title></html>", content_type="text/html")


@pytest.fixture
async def shop() -> AsyncIterator[tuple[Shop, str]]:
    state = Shop()
    app = web.Application()
    app.router.add_get("/item", state.item)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def crawlpipe(kafka_config, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "stages.cli", *args], env={**os.environ, **kafka_env(kafka_config)},
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_fixed_page_is_redriven_from_the_dlq_and_fetched(kafka_config, stages: StageProcesses, shop):
    state, base = shop
    url = f"{base}/item"
    await publish(kafka_config, [f"{url}\n", "ftp://example.invalid/not-http\n"])
    stages.start("fetcher")
    dead = await read_topic(kafka_config, kafka_config.topic_dlq, 2)
    assert {orjson.loads(r.value)["error_class"] for r in dead} == {"http_status", "bad_url"}

    summary = crawlpipe(kafka_config, "dlq")
    line = next(line for line in summary.splitlines() if "http_status" in line)
    assert line.split()[:3] == ["1", "fetcher", "http_status"]
    assert "HTTP 404" in summary and f'"url":"{url}"' in summary and "publish" in summary

    assert "redrove 0 records" in crawlpipe(kafka_config, "redrive", "--error-class", "http_status",
                                            "--since", "2999-01-01T00:00:00Z")
    state.fixed = True
    out = crawlpipe(kafka_config, "redrive", "--error-class", "http_status")
    assert f"redrove 1 records of http_status ({kafka_config.topic_urls}: 1)" in out
    pages = await read_topic(kafka_config, kafka_config.topic_pages, 1)
    assert pages[0].key.decode() == url and pages[0].value == b"<html><title>back</title></html>"
    # The redriven URL message starts its attempts afresh.
    urls = await read_topic(kafka_config, kafka_config.topic_urls, 2)
    assert orjson.loads(urls[-1].value)["attempt"] == 1
    # A bad line from `publish` has no stage to go back to.
    assert "redrove 0 records of bad_url (nothing); skipped 1" in crawlpipe(kafka_config, "redrive",
                                                                            "--error-class", "bad_url")


async def test_a_page_the_parser_failed_on_is_read_back_with_its_headers_and_redriven(kafka_config,
                                                                                  stages: StageProcesses):
    producer = kafka.producer(kafka_config, client_id="test")
    await producer.start()
    try:
        await producer.send_and_wait(kafka_config.topic_pages, b"<html>no metadata</html>", key=b"http://x.test/",
                                     headers=[("crawlpipe-note", b"kept")])
    finally:
        await producer.stop()
    stages.start("parser")
    [dead] = await read_topic(kafka_config, kafka_config.topic_dlq, 1)
    document = orjson.loads(dead.value)
    assert document["stage"] == "parser"
    assert stages.stop("parser") == 0

    out = crawlpipe(kafka_config, "redrive", "--error-class", document["error_class"])
    assert f"redrove 1 records of {document['error_class']} ({kafka_config.topic_pages}: 1)" in out
    original, again = await read_topic(kafka_config, kafka_config.topic_pages, 2)
    assert (again.key, again.value, list(again.headers)) == (original.key, original.value, list(original.headers))
