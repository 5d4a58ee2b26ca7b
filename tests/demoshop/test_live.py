"""The live shop's changes: removed products answer 410 and leave listings and sitemaps; volatile prices move."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from stages.demoshop.catalog import Catalog
from stages.demoshop.live import LiveCatalog
from stages.demoshop.server import RunningShop, start_shop
from stages.demoshop.sitemaps import lastmod


@pytest.fixture
async def shop() -> AsyncIterator[RunningShop]:
    async with await start_shop(LiveCatalog(4, volatile_every=5)) as running:
        yield running


async def fetched(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as client, client.get(url) as resp:
        return resp.status, resp.content_type, await resp.read()


async def test_a_removed_product_answers_410_and_leaves_listing_and_sitemap(shop: RunningShop) -> None:
    catalog = shop.catalog
    assert isinstance(catalog, LiveCatalog)
    gone = catalog.page_products(1)[3].id
    catalog.remove(gone)
    assert (await fetched(f"{shop.base_url}/product/{gone}.html"))[0] == 410
    assert gone.encode() not in (await fetched(f"{shop.base_url}/list/1.html"))[2]
    assert gone.encode() not in (await fetched(f"{shop.base_url}/sitemaps/products-1.xml"))[2]
    catalog.restore(gone)
    assert (await fetched(f"{shop.base_url}/product/{gone}.html"))[0] == 200
    assert gone.encode() in (await fetched(f"{shop.base_url}/list/1.html"))[2]


async def test_volatile_prices_change_per_visit_and_stable_ones_do_not(shop: RunningShop) -> None:
    catalog = shop.catalog
    assert isinstance(catalog, LiveCatalog)
    volatile = [p.id for p in Catalog(4).page_products(2) if catalog.is_volatile(p.id)]
    stable = [p.id for p in Catalog(4).page_products(2) if not catalog.is_volatile(p.id)]
    assert volatile and stable
    price = re.compile(rb'<span class="price">([^<]*)</span>')

    async def prices(product_id: str) -> list[bytes]:
        return [price.findall((await fetched(f"{shop.base_url}/product/{product_id}.html"))[2])[0]
                for _ in range(3)]

    assert len(set(await prices(volatile[0]))) == 3
    assert catalog.visits(volatile[0]) == 3
    assert len(set(await prices(stable[0]))) == 1


async def test_robots_names_the_index_which_names_a_plain_and_a_gzip_sitemap(shop: RunningShop) -> None:
    status, _, robots = await fetched(f"{shop.base_url}/robots.txt")
    assert f"Sitemap: {shop.base_url}/sitemap.xml".encode() in robots
    _, kind, index = await fetched(f"{shop.base_url}/sitemap.xml")
    assert kind == "application/xml"
    locations = re.findall(rb"<loc>([^<]*)</loc>", index)
    assert [loc.decode().rsplit("/", 1)[1] for loc in locations] == ["products-1.xml", "products-2.xml.gz"]
    _, plain_kind, plain = await fetched(locations[0].decode())
    _, gzip_kind, packed = await fetched(locations[1].decode())
    assert (plain_kind, gzip_kind) == ("application/xml", "application/gzip")
    listed = re.findall(rb"<loc>[^<]*/product/(p\d+)\.html</loc><lastmod>([^<]*)</lastmod>",
                        plain + gzip.decompress(packed))
    catalogue = [p.id for n in range(1, 5) for p in Catalog(4).page_products(n)]
    assert [product_id.decode() for product_id, _ in listed] == catalogue
    assert all(when.decode() == lastmod(product_id.decode()) for product_id, when in listed)
