"""HttpFetcher against hostile servers: every bad case ends fast, with the right error class."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import psutil
import pytest

from stages.core.errors import BadMessage, CrawlpipeError
from stages.fetcher.client import HttpFetcher
from stages.fetcher.errors import RetriableFetchError, RetriableHttpStatus
from tests.fetcher.conftest import local_config
from tests.fetcher.hostile import HTML, HUGE_BYTES, HostileServer, raw_server

pytestmark = pytest.mark.timeout(5)

MakeFetcher = Callable[..., HttpFetcher]


async def fetch_error(fetcher: HttpFetcher, url: str) -> CrawlpipeError:
    with pytest.raises(CrawlpipeError) as caught:
        await fetcher.fetch(url)
    return caught.value


async def test_page_is_fetched_with_metadata(hostile: HostileServer, fetcher: HttpFetcher) -> None:
    page = await fetcher.fetch(hostile.url("/ok#fragment"))
    assert page.url == page.final_url == hostile.url("/ok")
    assert (page.status, page.content_type, page.charset, page.body) == (200, "text/html", "utf-8", HTML)
    assert page.redirects == ()
    assert set(page.timings) == {"wait", "connect_and_headers", "body", "total"}
    assert page.timings["total"] >= page.timings["connect_and_headers"]


async def test_trickling_body_times_out(hostile: HostileServer, make_fetcher: MakeFetcher) -> None:
    async with make_fetcher(read_timeout_seconds=0.3) as fetcher:
        error = await fetch_error(fetcher, hostile.url("/trickle"))
    assert (error.error_class, error.retriable) == ("timeout", True)


async def test_total_budget_stops_a_server_that_keeps_trickling(
    hostile: HostileServer, make_fetcher: MakeFetcher
) -> None:
    # Each byte arrives within the read timeout; only the total budget ends it.
    async with make_fetcher(read_timeout_seconds=2.0, total_timeout_seconds=1.5) as fetcher:
        error = await fetch_error(fetcher, hostile.url("/trickle"))
    assert (error.error_class, error.retriable) == ("timeout", True)


async def test_stalled_headers_time_out(hostile: HostileServer, make_fetcher: MakeFetcher) -> None:
    async with make_fetcher(read_timeout_seconds=0.3) as fetcher:
        error = await fetch_error(fetcher, hostile.url("/stall"))
    assert (error.error_class, error.retriable) == ("timeout", True)


async def test_huge_streamed_body_is_cut_off_without_reading_it(
    hostile: HostileServer, fetcher: HttpFetcher
) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    error = await fetch_error(fetcher, hostile.url("/huge"))
    grown = process.memory_info().rss - before
    assert (error.error_class, error.retriable) == ("too_large", False)
    await hostile.huge_hung_up.wait()
    assert hostile.huge_bytes_sent < HUGE_BYTES // 4, "the client hung up long before the end"
    assert grown < 30 * 1024 * 1024, f"RSS grew by {grown / 2**20:.0f} MiB"


async def test_declared_huge_body_is_refused_from_its_headers(
    hostile: HostileServer, fetcher: HttpFetcher
) -> None:
    error = await fetch_error(fetcher, hostile.url("/huge-declared"))
    assert error.error_class == "too_large"
    assert "Content-Length" in str(error)


@pytest.mark.parametrize("path", ["/gzip-bomb", "/brotli-bomb"])
async def test_compression_bomb_is_stopped_at_the_decoded_cap(
    hostile: HostileServer, fetcher: HttpFetcher, path: str
) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    error = await fetch_error(fetcher, hostile.url(path))
    assert (error.error_class, error.retriable) == ("decode_bomb", False)
    assert process.memory_info().rss - before < 30 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "br", "gzip-br"])
async def test_compressed_pages_are_decoded(hostile: HostileServer, fetcher: HttpFetcher, encoding: str) -> None:
    page = await fetcher.fetch(hostile.url(f"/encoded/{encoding}"))
    assert page.body == HTML


async def test_redirects_are_followed_and_recorded(hostile: HostileServer, fetcher: HttpFetcher) -> None:
    page = await fetcher.fetch(hostile.url("/chain/2"))
    assert page.final_url == hostile.url("/ok")
    assert page.redirects == tuple(hostile.url(f"/chain/{n}") for n in (2, 1, 0))


async def test_redirect_loop_is_detected(hostile: HostileServer, fetcher: HttpFetcher) -> None:
    error = await fetch_error(fetcher, hostile.url("/loop/a"))
    assert (error.error_class, error.retriable) == ("redirect_loop", False)
    assert hostile.hits["/loop/a"] == 1


async def test_too_many_redirects_are_refused(hostile: HostileServer, make_fetcher: MakeFetcher) -> None:
    async with make_fetcher(max_redirects=3) as fetcher:
        error = await fetch_error(fetcher, hostile.url("/chain/10"))
    assert (error.error_class, error.retriable) == ("too_many_redirects", False)
    assert hostile.hits["/chain/7"] == 1 and hostile.hits["/chain/6"] == 0


async def test_429_carries_retry_after_and_the_throttle_honours_it(
    hostile: HostileServer, fetcher: HttpFetcher
) -> None:
    with pytest.raises(RetriableHttpStatus) as caught:
        await fetcher.fetch(hostile.url("/retry-after"))
    assert (caught.value.error_class, caught.value.status, caught.value.retry_after_seconds) == ("http_status", 429, 1.0)
    asked_to_wait = fetcher.throttle.delay_for("127.0.0.1")
    assert 0.5 < asked_to_wait <= 1.0
    page = await fetcher.fetch(hostile.url("/retry-after"))
    assert page.status == 200
    assert page.timings["wait"] >= asked_to_wait - 0.05


async def test_a_long_throttle_wait_fails_fast_instead_of_parking(
    hostile: HostileServer, make_fetcher: MakeFetcher
) -> None:
    async with make_fetcher(max_throttle_wait_seconds=0.5) as fetcher:
        with pytest.raises(RetriableHttpStatus):
            await fetcher.fetch(hostile.url("/retry-after"))
        with pytest.raises(RetriableFetchError) as caught:
            await fetcher.fetch(hostile.url("/retry-after"))
    assert caught.value.error_class == "throttled"
    # A turn booked after the server's Retry-After: one pacing delay (the 429's back-off step) later.
    assert 1.0 < (caught.value.retry_after_seconds or 0) <= 1.0 + 0.25
    assert hostile.hits["/retry-after"] == 1


async def test_503_is_retriable_until_it_recovers(hostile: HostileServer, fetcher: HttpFetcher) -> None:
    failures = []
    for _attempt in range(5):
        try:
            page = await fetcher.fetch(hostile.url("/flaky"))
        except RetriableFetchError as exc:
            failures.append((exc.error_class, exc.retriable))
        else:
            break
    assert failures == [("http_status", True)] * 3
    assert page.status == 200


@pytest.mark.parametrize(("code", "retriable"), [(404, False), (410, False), (403, False), (500, True), (408, True)])
async def test_status_errors_are_classified(
    hostile: HostileServer, fetcher: HttpFetcher, code: int, retriable: bool
) -> None:
    error = await fetch_error(fetcher, hostile.url(f"/status/{code}"))
    assert (error.error_class, error.retriable) == ("http_status", retriable)
    assert getattr(error, "status") == code


async def test_connection_reset_mid_body_is_retriable(hostile: HostileServer, fetcher: HttpFetcher) -> None:
    error = await fetch_error(fetcher, hostile.url("/reset"))
    assert (error.error_class, error.retriable) == ("connection", True)


@pytest.mark.parametrize(
    ("reply", "error_class", "retriable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", "header_too_large",
         False),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(3000))
         + b"\r\n", "too_many_headers", False),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "bad_response", False),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad_response", False),
        (b"", "connection", True),
    ],
    ids=["huge-header", "thousands-of-headers", "not-http", "broken-chunking", "hang-up"],
)
async def test_broken_http_is_classified(
    make_fetcher: MakeFetcher, reply: bytes, error_class: str, retriable: bool
) -> None:
    async with raw_server(reply) as url, make_fetcher(obey_robots=False) as fetcher:
        error = await fetch_error(fetcher, url)
    assert (error.error_class, error.retriable) == (error_class, retriable)


async def test_a_connection_dropped_after_keep_alive_gets_one_request_per_attempt(make_fetcher: MakeFetcher) -> None:
    """aiohttp's hidden retry on a reused connection is off: the server sees each attempt once."""
    requests = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        # The first request on a connection is answered and kept alive; the next one is dropped unanswered.
        for answered in (True, False):
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            requests += 1
            if not answered:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(HTML)
                         + HTML)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        async with make_fetcher(obey_robots=False) as fetcher:
            assert (await fetcher.fetch(url)).status == 200
            error = await fetch_error(fetcher, url + "again")
    finally:
        server.close()
        await server.wait_closed()
    assert (error.error_class, error.retriable) == ("connection", True)
    assert requests == 2, f"the server received {requests} requests for 2 attempts"


async def test_refused_connection_is_retriable(hostile: HostileServer, make_fetcher: MakeFetcher) -> None:
    port = hostile.port
    await hostile.stop()
    async with make_fetcher(obey_robots=False) as fetcher:
        error = await fetch_error(fetcher, f"http://127.0.0.1:{port}/ok")
    assert (error.error_class, error.retriable) == ("connection", True)


async def test_non_html_is_refused_before_its_body_is_read(hostile: HostileServer, fetcher: HttpFetcher) -> None:
    for path in ("/png", "/no-content-type"):
        error = await fetch_error(fetcher, hostile.url(path))
        assert (error.error_class, error.retriable) == ("unsupported_content_type", False)


async def test_non_html_can_be_stored(hostile: HostileServer, make_fetcher: MakeFetcher) -> None:
    async with make_fetcher(store_non_html=True) as fetcher:
        page = await fetcher.fetch(hostile.url("/png"))
    assert page.content_type == "image/png"
    assert page.body.startswith(b"\x89PNG")


async def test_unknown_charset_passes_and_is_recorded(hostile: HostileServer, fetcher: HttpFetcher) -> None:
    page = await fetcher.fetch(hostile.url("/bad-charset"))
    assert (page.content_type, page.charset, page.body) == ("text/html", "x-no-such-charset", HTML)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "javascript:void(0)", "http:///nohost", "http://127.0.0.1/" + "a" * 10_000])
async def test_bad_urls_are_refused_without_a_request(url: str, fetcher: HttpFetcher) -> None:
    error = await fetch_error(fetcher, url)
    assert (error.error_class, error.retriable) == ("bad_url", False)


async def test_fast_host_keeps_being_served_while_a_slow_host_hangs(
    hostile: HostileServer, make_fetcher: MakeFetcher
) -> None:
    async with make_fetcher(max_connections_per_host=2, read_timeout_seconds=4.0, total_timeout_seconds=4.5) as fetcher:
        slow = [asyncio.create_task(fetcher.fetch(hostile.slow_url("/slow"))) for _ in range(6)]
        await hostile.slow_arrived.wait()
        fast = await asyncio.gather(*(fetcher.fetch(hostile.url(f"/page/{i}")) for i in range(100)))
        assert all(page.status == 200 for page in fast)
        assert not any(task.done() for task in slow)
        assert hostile.slow_arrivals <= 2, "the slow host's own limit held its other requests back"
        hostile.release_slow.set()
        assert all(page.status == 200 for page in await asyncio.gather(*slow))


async def test_one_session_and_kept_alive_connections_serve_every_request(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = []
    original_init = aiohttp.ClientSession.__init__

    def counting_init(self: aiohttp.ClientSession, *args: object, **kwargs: object) -> None:
        sessions.append(self)
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting_init)
    created, reused = [], []
    trace = aiohttp.TraceConfig()

    async def on_create(*_: object) -> None:
        created.append(1)

    async def on_reuse(*_: object) -> None:
        reused.append(1)

    trace.on_connection_create_end.append(on_create)
    trace.on_connection_reuseconn.append(on_reuse)
    async with HttpFetcher(local_config(), trace_configs=[trace]) as fetcher:
        for i in range(20):
            await fetcher.fetch(hostile.url(f"/page/{i}"))
    assert len(sessions) == 1
    assert len(created) == 1, "robots.txt and all 20 pages went over one kept-alive connection"
    assert len(reused) == 20


async def test_fetch_outside_the_context_manager_is_a_programming_error(make_fetcher: MakeFetcher) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await make_fetcher(obey_robots=False).fetch("http://127.0.0.1:9/")


async def test_errors_chain_the_aiohttp_cause(hostile: HostileServer, make_fetcher: MakeFetcher) -> None:
    async with make_fetcher(read_timeout_seconds=0.3) as fetcher:
        error = await fetch_error(fetcher, hostile.url("/stall"))
    assert isinstance(error.__cause__, TimeoutError)
    assert not isinstance(error, BadMessage)
