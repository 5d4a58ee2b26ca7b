"""Discovery in the fetcher: Sitemap lines from the cached robots.txt, and what a discover seed yields."""

from __future__ import annotations

import pytest
from yarl import URL

from stages.fetcher.discovery import discovered, is_gone
from stages.fetcher.errors import RetriableFetchError
from stages.fetcher.robots import RobotsResponse
from tests.fetcher.test_robots import Downloads, cache

pytestmark = pytest.mark.timeout(5)

WITH_SITEMAPS = (b"User-agent: *\nDisallow: /private\nSitemap: http://shop.example/sitemap.xml\n"
                 b"Sitemap: http://shop.example/news.xml.gz\n")


async def test_sitemap_lines_come_from_the_one_cached_download() -> None:
    downloads = Downloads(RobotsResponse(200, WITH_SITEMAPS))
    robots = cache(downloads)
    assert await robots.check(URL("http://shop.example/list/1.html")) is None
    assert await robots.sitemaps(URL("http://shop.example/")) == [
        "http://shop.example/sitemap.xml", "http://shop.example/news.xml.gz"]
    assert downloads.asked == ["http://shop.example/robots.txt"]


async def test_no_robots_txt_means_no_sitemaps_and_an_unreadable_one_is_retried() -> None:
    assert await cache(Downloads(RobotsResponse(404, b""))).sitemaps(URL("http://shop.example/")) == []
    with pytest.raises(RetriableFetchError) as caught:
        await cache(Downloads(RobotsResponse(503, b""))).sitemaps(URL("http://shop.example/"))
    assert caught.value.error_class == "robots_unavailable"


def test_a_robots_seed_yields_its_sitemaps_and_a_page_seed_itself_too() -> None:
    seed = {"url": "http://shop.example/robots.txt", "depth": 0, "attempt": 3, "site": "shop", "purpose": "discover"}
    sitemaps = ["http://shop.example/a.xml", "http://shop.example/b.xml", "http://shop.example/a.xml"]
    assert discovered(seed, sitemaps) == [
        {"url": "http://shop.example/a.xml", "depth": 0, "site": "shop", "attempt": 1, "purpose": "sitemap"},
        {"url": "http://shop.example/b.xml", "depth": 0, "site": "shop", "attempt": 1, "purpose": "sitemap"},
    ]
    home = {**seed, "url": "http://shop.example/"}
    assert discovered(home, [])[-1] == {"url": "http://shop.example/", "depth": 0, "site": "shop", "attempt": 1}


@pytest.mark.parametrize(("purpose", "status", "gone"), [
    ("recrawl", 404, True), ("recrawl", 410, True), ("recrawl", 403, False), ("page", 404, False),
])
def test_only_a_recrawl_takes_404_and_410_as_an_answer(purpose: str, status: int, gone: bool) -> None:
    assert is_gone({"url": "http://shop.example/p", "purpose": purpose}, status) is gone
