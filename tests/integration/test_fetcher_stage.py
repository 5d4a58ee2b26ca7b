"""The real fetcher stage on the real broker against hostile HTTP servers on loopback (issue #4, Tests).

One fetcher process, with small caps, timeouts and retry delays, serves the
whole gauntlet: each case publishes one URL message (or a raw bad message) to
the module's own URL topic and awaits the one page record or DLQ record it
must end as, then checks what the server saw and that the fetcher still runs.
The last gauntlet test sends every case at once, then checks a normal URL
still becomes a page and the fetcher's RSS is below the memory budget it
logged at start-up. The two throttling tests each run a fetcher of their own.

Every server listens on 127.0.0.1 or 127.0.0.2 only; the private-address cases
are refused by the fetcher's SSRF guard before any socket opens.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psutil
import pytest
import pytest_asyncio

from stages.core import kafka
from stages.core.config import MIB, KafkaConfig
from stages.core.envelope import Envelope
from stages.core.messages import decode_page_headers, host_key
from tests.conftest import StageProcesses, eventually, fresh_kafka_config, kafka_env
from tests.fetcher.hostile import HTML, HUGE_BYTES, HostileServer, brotli_bomb, gzip_bomb

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio(loop_scope="module")]

PAGE = "page"
BODY_CAP_BYTES = MIB
# Small caps, short timeouts and retry delays: every case ends within a few seconds.
GAUNTLET_ENV = {
    "CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8",
    "CRAWLPIPE_COMMIT_INTERVAL_SECONDS": "0.2",
    "CRAWLPIPE_SESSION_TIMEOUT_SECONDS": "6",
    "CRAWLPIPE_MAX_ATTEMPTS": "4",
    "CRAWLPIPE_RETRY_BASE_DELAY_SECONDS": "0.05",
    "CRAWLPIPE_RETRY_MAX_DELAY_SECONDS": "5",
    # The trickling server sends a byte a second: twice this.
    "CRAWLPIPE_READ_TIMEOUT_SECONDS": "0.5",
    "CRAWLPIPE_MAX_BODY_BYTES": str(BODY_CAP_BYTES),
    "CRAWLPIPE_MAX_DECOMPRESSED_BYTES": str(BODY_CAP_BYTES),
    "CRAWLPIPE_LARGE_BODY_THRESHOLD_BYTES": str(64 * 1024),
    # Every case shares the host 127.0.0.1, so its back-off must stay short.
    "CRAWLPIPE_ADAPTIVE_DELAY_STEP_SECONDS": "0.01",
    "CRAWLPIPE_MAX_DELAY_PER_HOST_SECONDS": "0.2",
    # A memory budget small enough that buffering a hostile body would break it.
    "CRAWLPIPE_MAX_IN_FLIGHT": "32",
    "CRAWLPIPE_MAX_IN_FLIGHT_BYTES": str(4 * MIB),
    "CRAWLPIPE_FETCH_MAX_BYTES": str(MIB),
    "CRAWLPIPE_MAX_REQUEST_BYTES": str(2 * MIB),
}


def first_attempt(url: str) -> bytes:
    return orjson.dumps({"url": url, "depth": 0, "attempt": 1})


@dataclass(frozen=True)
class Page:
    key: str
    body: bytes
    meta: dict[str, Any]
    timestamp_ms: int


@dataclass(frozen=True)
class UrlMessage:
    document: dict[str, Any]
    timestamp_ms: int


class Traffic:
    """The test's side of one set of topics: it publishes URL messages and reads all the fetcher produced."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._producer = kafka.producer(config, client_id="test-publisher")
        self._reader = kafka.consumer(config, config.topic_pages, config.topic_dlq, config.topic_urls,
                                      group=None, client_id="test-reader")
        self.pages: list[Page] = []
        self.dead: list[dict[str, Any]] = []
        self.url_messages: list[UrlMessage] = []

    async def start(self) -> None:
        await self._producer.start()
        await self._reader.start()

    async def stop(self) -> None:
        await self._reader.stop()
        await self._producer.stop()

    async def send(self, value: bytes, key: bytes) -> None:
        await self._producer.send_and_wait(self.config.topic_urls, value, key=key)

    async def send_url(self, url: str) -> bytes:
        """A first-attempt URL message for ``url``, unvalidated (bad URLs are the point); its value."""
        value = first_attempt(url)
        await self.send(value, host_key(url))
        return value

    async def send_urls(self, urls: list[str]) -> None:
        """First-attempt URL messages for ``urls``, in order, in as few requests as the producer can."""
        acks = [await self._producer.send(self.config.topic_urls, first_attempt(url), key=host_key(url))
                for url in urls]
        await asyncio.gather(*acks)

    async def wait(self, check: Callable[[], Any], *, what: str, timeout: float = 60.0) -> Any:
        """Read on until ``check()`` is truthy; return its value."""
        async def read_then_check() -> Any:
            batch = await self._reader.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    self._keep(record)
            return check()
        return await eventually(read_then_check, timeout=timeout, interval=0, what=what)

    def _keep(self, record: Any) -> None:
        if record.topic == self.config.topic_pages:
            envelope = Envelope(topic=record.topic, partition=record.partition, offset=record.offset,
                                key=record.key, value=record.value, headers=tuple(record.headers),
                                timestamp_ms=record.timestamp)
            self.pages.append(Page(record.key.decode(), record.value, decode_page_headers(envelope),
                                   record.timestamp))
        elif record.topic == self.config.topic_dlq:
            self.dead.append(orjson.loads(record.value))
        else:
            try:
                document = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                return
            if isinstance(document, dict):
                self.url_messages.append(UrlMessage(document, record.timestamp))

    def pages_of(self, url: str) -> list[Page]:
        return [page for page in self.pages if page.key == url]

    def tries_of(self, url: str) -> list[UrlMessage]:
        return [message for message in self.url_messages if message.document.get("url") == url]

    def dead_of(self, url: str | None, raw: bytes) -> list[dict[str, Any]]:
        """DLQ records of the message ``raw``, or of any attempt of a URL message for ``url``."""
        found = []
        for document in self.dead:
            value = document["input"]["value"]
            if value is None:
                continue
            if value == raw.decode():
                found.append(document)
            elif url is not None:
                try:
                    failed = orjson.loads(value)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(failed, dict) and failed.get("url") == url:
                    found.append(document)
        return found


@pytest_asyncio.fixture(loop_scope="module")
async def hostile() -> AsyncIterator[HostileServer]:
    """A fresh hostile server per test: its own port (a new robots.txt origin) and hit counts."""
    async with HostileServer() as server:
        yield server


@dataclass
class Gauntlet:
    config: KafkaConfig
    stages: StageProcesses
    traffic: Traffic

    @property
    def fetcher(self) -> subprocess.Popen:
        return self.stages.processes["fetcher"]

    def assert_running(self) -> None:
        assert self.fetcher.poll() is None, f"the fetcher exited:\n{self.stages.log('fetcher')}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gauntlet(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gauntlet]:
    """One fetcher on fresh topics for every gauntlet test of this module."""
    # Built once, off the loop: the first bomb request must not stall the servers' loop.
    await asyncio.gather(asyncio.to_thread(gzip_bomb), asyncio.to_thread(brotli_bomb))
    config = await fresh_kafka_config(kafka_bootstrap)
    stages = StageProcesses({**kafka_env(config), **GAUNTLET_ENV}, tmp_path_factory.mktemp("gauntlet"))
    traffic = Traffic(config)
    await traffic.start()
    try:
        stages.start("fetcher")
        yield Gauntlet(config, stages, traffic)
    finally:
        stages.stop_all()
        await traffic.stop()


@dataclass(frozen=True)
class Case:
    """One URL message and what it must end as.

    ``url`` is a path on the hostile server's fast host or a full URL (with
    ``{port}`` and ``{token}`` filled in); ``raw`` a value sent as it is.
    ``outcome`` is PAGE or the DLQ error class, ``attempt`` the attempt it
    ends on, ``hits`` the requests the server must have seen per path;
    ``reaches_server`` is False for a message refused before any request.
    """

    id: str
    url: str | None = None
    raw: str | None = None
    outcome: str = PAGE
    attempt: int = 1
    hits: dict[str, int] = field(default_factory=dict)
    reaches_server: bool = True
    check: Callable[[Sent, Any], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Sent:
    case: Case
    server: HostileServer
    traffic: Traffic
    url: str | None
    value: bytes


async def retry_waited_as_asked(sent: Sent, page: Page) -> None:
    """The 429's Retry-After: 1 was honoured: the retry was scheduled, and fetched, a second later."""
    _, retry = sent.traffic.tries_of(sent.url)
    assert retry.document["not_before"] - retry.timestamp_ms / 1000 >= 0.9, retry
    fetched_at = datetime.fromisoformat(page.meta["fetched_at"].replace("Z", "+00:00")).timestamp()
    assert fetched_at >= retry.document["not_before"] - 0.01


async def hung_up_early(sent: Sent, dead: dict[str, Any]) -> None:
    await asyncio.wait_for(sent.server.huge_hung_up.wait(), timeout=10)
    assert sent.server.huge_bytes_sent < HUGE_BYTES // 4, "the fetcher read on far past its cap"


async def refused_before_connecting(sent: Sent, dead: dict[str, Any]) -> None:
    assert "refusing to connect" in dead["error"], dead


CASES = [
    Case("503 three times then 200", url="/flaky", attempt=4, hits={"/flaky": 4}),
    Case("429 with Retry-After then 200", url="/retry-after", attempt=2, hits={"/retry-after": 2},
         check=retry_waited_as_asked),
    Case("404", url="/status/404", outcome="http_status", hits={"/status/404": 1}),
    Case("robots.txt disallows", url="/private", outcome="robots_disallowed", hits={"/private": 0, "/robots.txt": 1}),
    Case("robots.txt allows", url="/ok", hits={"/ok": 1, "/robots.txt": 1}),
    Case("redirect loop", url="/loop/a", outcome="redirect_loop", hits={"/loop/a": 1, "/loop/b": 1}),
    Case("100 MiB body", url="/huge", outcome="too_large", hits={"/huge": 1}, check=hung_up_early),
    Case("100 MiB Content-Length", url="/huge-declared", outcome="too_large", hits={"/huge-declared": 1}),
    Case("gzip bomb", url="/gzip-bomb", outcome="decode_bomb", hits={"/gzip-bomb": 1}),
    Case("brotli bomb", url="/brotli-bomb", outcome="decode_bomb", hits={"/brotli-bomb": 1}),
    Case("trickle", url="/trickle", outcome="timeout", attempt=4, hits={"/trickle": 4}),
    Case("connection reset", url="/reset", outcome="connection", attempt=4, hits={"/reset": 4}),
    Case("image/png", url="/png", outcome="unsupported_content_type", hits={"/png": 1}),
    Case("not JSON", raw="{{not json {token}", outcome="bad_json", reaches_server=False),
    Case("JSON without url", raw='{{"depth": 0, "attempt": 1, "meta": {{"token": "{token}"}}}}',
         outcome="schema", reaches_server=False),
    Case("ftp URL", url="ftp://127.0.0.1:{port}/{token}", outcome="bad_url", reaches_server=False),
    Case("javascript URL", url="javascript:alert('{token}')", outcome="bad_url", reaches_server=False),
    # Past the one URL limit (2048, the schema's too): bad_url when the message is read, not schema.
    Case("10 KB URL", url="http://127.0.0.1:{port}/page/" + "a" * 10_240, outcome="bad_url", reaches_server=False),
    # Past the same limit by less: the same class.
    Case("3 KB URL", url="http://127.0.0.1:{port}/page/" + "a" * 3_000, outcome="bad_url", reaches_server=False),
    Case("10.0.0.1", url="http://10.0.0.1/{token}", outcome="blocked_address", reaches_server=False,
         check=refused_before_connecting),
    Case("192.168.1.1", url="http://192.168.1.1/{token}", outcome="blocked_address", reaches_server=False,
         check=refused_before_connecting),
    # 0.0.0.0 reaches this machine, so a guard that let it through would show up in the server's counts.
    Case("0.0.0.0", url="http://0.0.0.0:{port}/page/{token}", outcome="blocked_address", reaches_server=False,
         check=refused_before_connecting),
]


async def send(traffic: Traffic, server: HostileServer, case: Case) -> Sent:
    token = uuid.uuid4().hex
    if case.raw is not None:
        value = case.raw.format(token=token).encode()
        await traffic.send(value, key=b"bad-message")
        return Sent(case, server, traffic, None, value)
    assert case.url is not None
    url = server.url(case.url) if case.url.startswith("/") else case.url.format(port=server.port, token=token)
    return Sent(case, server, traffic, url, await traffic.send_url(url))


async def ends_as_expected(sent: Sent) -> None:
    case, traffic = sent.case, sent.traffic
    if case.outcome == PAGE:
        assert sent.url is not None
        [page] = await traffic.wait(lambda: traffic.pages_of(sent.url), what=f"the page of {case.id!r}")
        assert page.body == HTML
        assert (page.meta["url"], page.meta["final_url"], page.meta["status"], page.meta["content_type"]) == (
            sent.url, sent.url, 200, "text/html")
        assert page.meta["url_message"]["url"] == sent.url
        assert page.meta["url_message"]["attempt"] == case.attempt, page.meta["url_message"]
        assert traffic.dead_of(sent.url, sent.value) == []
        outcome: Any = page
    else:
        [dead] = await traffic.wait(lambda: traffic.dead_of(sent.url, sent.value),
                                    what=f"the DLQ record of {case.id!r}")
        assert (dead["stage"], dead["error_class"], dead["attempt"]) == ("fetcher", case.outcome, case.attempt), dead
        assert dead["input"]["topic"] == traffic.config.topic_urls
        if sent.url is None:
            assert dead["input"]["value"] == sent.value.decode()
        else:
            failed = orjson.loads(dead["input"]["value"])
            assert (failed["url"], failed["attempt"]) == (sent.url, case.attempt)
            assert traffic.pages_of(sent.url) == []
        outcome = dead
    if sent.url is not None:
        # Every retry went back to the URL topic as the next attempt, none past the last (a deferral
        # through Kafka would repeat an attempt, not add one).
        def tried() -> set[int]:
            attempts = {t.document["attempt"] for t in traffic.tries_of(sent.url)}
            return attempts if len(attempts) >= case.attempt else set()
        attempts = await traffic.wait(tried, what=f"the retries of {case.id!r}")
        assert sorted(attempts) == list(range(1, case.attempt + 1))
    for path, count in case.hits.items():
        assert sent.server.hits[path] == count, (path, dict(sent.server.hits))
    if case.check is not None:
        await case.check(sent, outcome)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_each_case_ends_as_its_page_or_dlq_record(gauntlet: Gauntlet, hostile: HostileServer, case: Case):
    sent = await send(gauntlet.traffic, hostile, case)
    await ends_as_expected(sent)
    if not case.reaches_server:
        assert dict(hostile.hits) == {}, "the fetcher sent a request for a message it had to refuse"
    gauntlet.assert_running()


def budget_bytes(log: str) -> int:
    found = re.search(r"fetcher memory budget: (\d+) MB = ", log)
    assert found, f"no memory budget in the fetcher's log:\n{log}"
    return int(found.group(1)) * MIB


async def test_after_every_case_at_once_a_normal_url_is_fetched_within_the_memory_budget(
        gauntlet: Gauntlet, hostile: HostileServer):
    sent = [await send(gauntlet.traffic, hostile, case) for case in CASES]
    await asyncio.gather(*(ends_as_expected(s) for s in sent))
    assert hostile.hits["/robots.txt"] == 1, "one robots.txt download per origin, however many fetches wait on it"
    gauntlet.assert_running()

    after = await send(gauntlet.traffic, hostile, Case("after", url="/page/after"))
    await ends_as_expected(after)
    gauntlet.assert_running()
    rss = psutil.Process(gauntlet.fetcher.pid).memory_info().rss
    log = gauntlet.stages.log("fetcher")
    budget = budget_bytes(log)
    assert rss < budget, f"fetcher RSS {rss // MIB} MB above its memory budget {budget // MIB} MB"
    assert "Traceback" not in log, log


# --- A throttled slow host must not take the window from a fast one ------------------------------------------
#
# Four messages in flight; twenty URLs of a slow host on 127.0.0.2 are published first, forty of a fast host on
# 127.0.0.1 once the slow host has been asked. The slow host's URLs must wait outside the window, and each must
# still end as exactly one page.

SLOW_URLS = 20
FAST_URLS = 40
THROTTLE_ENV = {"CRAWLPIPE_MAX_IN_FLIGHT": "4", "CRAWLPIPE_MAX_ATTEMPTS": "20",
                "CRAWLPIPE_RETRY_BASE_DELAY_SECONDS": "0.05"}


@dataclass
class Race:
    traffic: Traffic
    slow: list[str]
    fast: list[str]

    def stored(self, urls: list[str]) -> list[Page]:
        wanted = set(urls)
        return [page for page in self.traffic.pages if page.key in wanted]

    async def fast_pages(self) -> list[Page]:
        return await self.traffic.wait(lambda: len(self.stored(self.fast)) >= FAST_URLS and self.stored(self.fast),
                                       what="every fast-host page")

    async def slow_pages_later(self) -> None:
        """The slow host's work is not lost, only later: each URL ends as one page, none in the DLQ."""
        await self.traffic.wait(lambda: len(self.stored(self.slow)) >= SLOW_URLS, what="every slow-host page",
                                timeout=90)
        assert sorted(page.key for page in self.traffic.pages) == sorted(self.slow + self.fast)
        assert self.traffic.dead == []


@asynccontextmanager
async def race(config: KafkaConfig, stages: StageProcesses, hostile: HostileServer, slow_route: str,
               **env: str) -> AsyncIterator[Race]:
    """A fetcher with THROTTLE_ENV and ``env``, the slow host's URLs published; the fetcher must run after."""
    traffic = Traffic(config)
    await traffic.start()
    try:
        stages.start("fetcher", **{**THROTTLE_ENV, **env})
        slow = [hostile.slow_url(f"{slow_route}/{n}") for n in range(SLOW_URLS)]
        await traffic.send_urls(slow)
        yield Race(traffic, slow, [hostile.url(f"/page/{n}") for n in range(FAST_URLS)])
        assert stages.processes["fetcher"].poll() is None, stages.log("fetcher")
    finally:
        await traffic.stop()


async def test_a_slowly_answering_host_does_not_take_the_window_from_a_fast_one(
        kafka_config: KafkaConfig, stages: StageProcesses, hostile: HostileServer):
    # Answers slower than --slow-response-seconds back the host off, up to --max-delay-per-host-seconds.
    async with race(kafka_config, stages, hostile, "/sluggish", CRAWLPIPE_SLOW_RESPONSE_SECONDS="0.3",
                    CRAWLPIPE_MAX_DELAY_PER_HOST_SECONDS="0.5") as r:
        await asyncio.wait_for(hostile.sluggish_arrived.wait(), timeout=60)
        await r.traffic.send_urls(r.fast)
        last_fast = max(page.timestamp_ms for page in await r.fast_pages())
        slow_done = [page for page in r.stored(r.slow) if page.timestamp_ms <= last_fast]
        assert len(slow_done) <= SLOW_URLS // 2, (
            f"{len(slow_done)} of {SLOW_URLS} slow-host pages were stored before the last fast-host page: "
            "the slow host held the window")
        await r.slow_pages_later()


async def test_a_host_waiting_out_retry_after_does_not_take_the_window_from_a_fast_one(
        kafka_config: KafkaConfig, stages: StageProcesses, hostile: HostileServer):
    # 503s back the host off too; a short ceiling keeps the slow host's requests quick once it is free.
    async with race(kafka_config, stages, hostile, "/busy", CRAWLPIPE_ADAPTIVE_DELAY_STEP_SECONDS="0.05",
                    CRAWLPIPE_MAX_DELAY_PER_HOST_SECONDS="0.1") as r:
        await asyncio.wait_for(hostile.busy_arrived.wait(), timeout=60)
        await r.traffic.send_urls(r.fast)
        last_fast = max(page.timestamp_ms for page in await r.fast_pages()) / 1000
        # Every fast page is stored while the slow host is still busy: no fast URL waited out its Retry-After.
        assert hostile.busy_until is not None and last_fast < hostile.busy_until, (
            f"the last fast-host page came {last_fast - hostile.busy_refused_at[0]:.1f} s after the slow host's "
            f"first '503, Retry-After: {hostile.busy_seconds}': the slow host's waiting URLs held the window")
        await r.slow_pages_later()
