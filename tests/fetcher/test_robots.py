"""robots.txt: obeyed, fetched once per origin, cached within bounds, failures per RFC 9309."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from yarl import URL

from stages.core.errors import BadMessage
from stages.fetcher.client import HttpFetcher
from stages.fetcher.config import FetchConfig
from stages.fetcher.errors import RetriableFetchError
from stages.fetcher.robots import RobotsCache, RobotsResponse
from tests.fetcher.hostile import HostileServer

pytestmark = pytest.mark.timeout(5)

RULES = b"User-agent: *\nDisallow: /private\nCrawl-delay: 1.5\n"


class Downloads:
    """A fake robots.txt downloader that records what it was asked and can be held."""

    def __init__(self, response: RobotsResponse | Exception = RobotsResponse(200, RULES)) -> None:
        self.response = response
        self.asked: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, url: URL) -> RobotsResponse:
        self.asked.append(str(url))
        await self.gate.wait()
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


def cache(downloads: Downloads, clock: Callable[[], float] | None = None, **overrides: Any) -> RobotsCache:
    config = FetchConfig(**overrides)
    return RobotsCache(downloads, config, clock=clock) if clock else RobotsCache(downloads, config)


async def test_rules_are_obeyed_and_crawl_delay_exposed() -> None:
    robots = cache(Downloads())
    assert await robots.check(URL("http://shop.example/item/1")) == 1.5
    with pytest.raises(BadMessage) as caught:
        await robots.check(URL("http://shop.example/private/x"))
    assert caught.value.error_class == "robots_disallowed"
    assert caught.value.retriable is False


async def test_concurrent_checks_share_one_download() -> None:
    downloads = Downloads()
    downloads.gate.clear()
    robots = cache(downloads)
    checks = [asyncio.create_task(robots.check(URL(f"http://shop.example/item/{i}"))) for i in range(20)]
    await asyncio.sleep(0)  # let every check reach the shared download
    downloads.gate.set()
    await asyncio.gather(*checks)
    assert downloads.asked == ["http://shop.example/robots.txt"]


async def test_one_waiter_giving_up_does_not_cancel_the_shared_download() -> None:
    downloads = Downloads()
    downloads.gate.clear()
    robots = cache(downloads)
    impatient = asyncio.create_task(robots.check(URL("http://shop.example/a")))
    patient = asyncio.create_task(robots.check(URL("http://shop.example/b")))
    await asyncio.sleep(0)
    impatient.cancel()
    downloads.gate.set()
    assert await patient == 1.5
    assert impatient.cancelled()


async def test_origins_are_separate_by_scheme_host_and_port() -> None:
    downloads = Downloads()
    robots = cache(downloads)
    for url in ("http://a.example/", "https://a.example/", "http://a.example:8080/", "http://b.example/"):
        await robots.check(URL(url))
    assert len(downloads.asked) == 4


async def test_cache_is_bounded_and_entries_expire() -> None:
    now = [0.0]
    downloads = Downloads()
    robots = cache(downloads, clock=lambda: now[0], robots_cache_size=2, robots_ttl_seconds=100)
    for host in ("a", "b", "c"):
        await robots.check(URL(f"http://{host}.example/"))
    assert len(robots) == 2
    await robots.check(URL("http://c.example/"))
    assert len(downloads.asked) == 3
    now[0] = 101
    await robots.check(URL("http://c.example/"))
    assert len(downloads.asked) == 4


async def test_missing_robots_allows_everything() -> None:
    robots = cache(Downloads(RobotsResponse(404, b"")))
    assert await robots.check(URL("http://shop.example/private/x")) is None


@pytest.mark.parametrize(
    "failure",
    [RobotsResponse(503, b""), RobotsResponse(429, b""), RetriableFetchError("down", error_class="connection")],
)
async def test_unreachable_robots_disallows_temporarily(failure: RobotsResponse | Exception) -> None:
    now = [0.0]
    downloads = Downloads(failure)
    robots = cache(downloads, clock=lambda: now[0], robots_error_ttl_seconds=30)
    with pytest.raises(RetriableFetchError) as caught:
        await robots.check(URL("http://shop.example/item"))
    assert caught.value.error_class == "robots_unavailable"
    assert caught.value.retry_after_seconds == 30
    now[0] = 10
    with pytest.raises(RetriableFetchError):
        await robots.check(URL("http://shop.example/other"))
    assert len(downloads.asked) == 1, "the failure is cached, not retried per URL"
    downloads.response = RobotsResponse(200, RULES)
    now[0] = 31
    assert await robots.check(URL("http://shop.example/item")) == 1.5


async def test_redirect_trouble_counts_as_no_robots() -> None:
    robots = cache(Downloads(BadMessage("loop", error_class="redirect_loop")))
    assert await robots.check(URL("http://shop.example/private")) is None


@pytest.mark.parametrize(
    "failure",
    [BadMessage("no", error_class="blocked_address"), RetriableFetchError("wait", error_class="throttled")],
)
async def test_failures_not_about_robots_propagate_uncached(failure: Exception) -> None:
    downloads = Downloads(failure)
    robots = cache(downloads)
    for _ in range(2):
        with pytest.raises(type(failure)):
            await robots.check(URL("http://shop.example/"))
    assert len(downloads.asked) == 2
    assert len(robots) == 0


async def test_fetcher_obeys_robots_and_fetches_it_once(
    hostile: HostileServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    async with make_fetcher() as fetcher:
        pages = await asyncio.gather(*(fetcher.fetch(hostile.url(f"/page/{i}")) for i in range(30)))
        with pytest.raises(BadMessage) as caught:
            await fetcher.fetch(hostile.url("/private/secret"))
    assert all(page.status == 200 for page in pages)
    assert caught.value.error_class == "robots_disallowed"
    assert hostile.hits["/robots.txt"] == 1
    assert hostile.hits["/private/secret"] == 0


async def test_fetcher_applies_crawl_delay(hostile: HostileServer, make_fetcher: Callable[..., HttpFetcher]) -> None:
    hostile.robots_body = b"User-agent: crawlpipe\nCrawl-delay: 0.3\n"
    async with make_fetcher() as fetcher:
        page = await fetcher.fetch(hostile.url("/ok"))
        assert 0.2 < fetcher.throttle.delay_for("127.0.0.1") <= 0.3
    assert page.timings["wait"] >= 0.25, "the page waited out the delay after the robots.txt request"


async def test_fetcher_retries_later_when_robots_fails(
    hostile: HostileServer, make_fetcher: Callable[..., HttpFetcher]
) -> None:
    hostile.robots_status = 500
    async with make_fetcher() as fetcher:
        with pytest.raises(RetriableFetchError) as caught:
            await fetcher.fetch(hostile.url("/ok"))
    assert caught.value.error_class == "robots_unavailable"
    assert hostile.hits["/ok"] == 0


async def test_fetcher_can_ignore_robots(hostile: HostileServer, make_fetcher: Callable[..., HttpFetcher]) -> None:
    async with make_fetcher(obey_robots=False) as fetcher:
        page = await fetcher.fetch(hostile.url("/private"))
    assert page.status == 200
    assert hostile.hits["/robots.txt"] == 0


async def test_close_cancels_a_download_in_flight() -> None:
    downloads = Downloads()
    downloads.gate.clear()
    robots = cache(downloads)
    waiter = asyncio.create_task(robots.check(URL("http://stuck.example/")))
    await asyncio.sleep(0)
    await robots.close()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_a_host_whose_name_does_not_resolve_is_dns_not_robots_unavailable() -> None:
    """The DNS failure behind robots.txt's fetch names the URL's failure too, for as long as it is cached."""
    robots = cache(Downloads(RetriableFetchError("no such host", error_class="dns")))
    for path in ("/item", "/other"):
        with pytest.raises(RetriableFetchError) as caught:
            await robots.check(URL(f"http://shop.example{path}"))
        assert (caught.value.error_class, caught.value.retriable) == ("dns", True)
