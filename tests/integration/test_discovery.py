"""Sitemap discovery end to end on the real broker (docs/discovery.md): from a seed to every product stored."""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import psutil
import pytest
from aiohttp import web

from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.demoshop.sitemaps import lastmod
from stages.tools.publish import publish
from tests.conftest import StageProcesses, eventually, sqlite_rows
from tests.integration.test_pipeline import read_topic

pytestmark = pytest.mark.kafka


def stored(db: Path) -> set[tuple]:
    return set(sqlite_rows(db, "SELECT url, title, price, currency FROM products"))


@pytest.mark.parametrize("seed", ["/robots.txt", "/list/1.html"])
async def test_every_product_is_found_from_the_sitemaps_alone(kafka_config, stages: StageProcesses, tmp_path,
                                                              seed: str):
    catalog = Catalog(pages=3)
    async with await start_shop(catalog) as shop:
        expected = {(p["url"], p["title"], p["price"], p["currency"])
                    for p in catalog.expected_products(shop.base_url)}
        message = {"url": shop.base_url + seed, "depth": 0, "attempt": 1, "purpose": "discover"}
        assert (await publish(kafka_config, [orjson.dumps(message).decode() + "\n"])).published == 1
        stages.start("fetcher")
        stages.start("parser", CRAWLPIPE_FOLLOW_LINKS="false")
        stages.start("sink")
        db = tmp_path / "products.db"
        await eventually(lambda: len(stored(db)) >= len(expected), what="every product in the sink")
        assert stored(db) == expected
        # Every product page was fetched once (the link dedupe), found in the plain or the gzip sitemap.
        products = {path: count for path, count in shop.stats.served_by_path.items() if path.startswith("/product/")}
        assert products == {f"/product/{p.id}.html": 1 for n in (1, 2, 3) for p in catalog.page_products(n)}
        assert shop.stats.served_by_path["/sitemaps/products-2.xml.gz"] == 1
        # Link following is off: a listing page is fetched only when it is the seed.
        listings = {path for path in shop.stats.served_by_path if path.startswith("/list/")}
        assert listings == ({seed} if seed.startswith("/list/") else set())
        assert not sqlite_rows(db, "SELECT id FROM products WHERE discontinued_at IS NOT NULL")


async def test_sitemap_follow_fetches_only_the_matching_urls_with_their_lastmod(kafka_config, stages: StageProcesses,
                                                                                tmp_path):
    catalog = Catalog(pages=2)
    rules = tmp_path / "rules.toml"
    # Only products whose number ends in 0 or 5; the shop's own rules otherwise.
    rules.write_text(Path(stages.base_env["CRAWLPIPE_RULES"]).read_text()
                     + 'sitemap_follow = ["/product/p[0-9]{7}[05][.]html$"]\n')
    async with await start_shop(catalog) as shop:
        message = {"url": f"{shop.base_url}/robots.txt", "depth": 0, "attempt": 1, "purpose": "discover"}
        await publish(kafka_config, [orjson.dumps(message).decode() + "\n"])
        stages.start("fetcher")
        stages.start("parser", CRAWLPIPE_FOLLOW_LINKS="false", CRAWLPIPE_RULES=str(rules))
        wanted = [p for n in (1, 2) for p in catalog.page_products(n) if p.id[-1] in "05"]
        pages = await read_topic(kafka_config, kafka_config.topic_pages, 3 + len(wanted))
        headers = {record.key.decode(): dict(record.headers) for record in pages}
        product_pages = {url: h for url, h in headers.items() if "/product/" in url}
        assert sorted(product_pages) == sorted(f"{shop.base_url}{p.path}" for p in wanted)
        assert all(h["lastmod"].decode() == lastmod(url.rsplit("/", 1)[1].removesuffix(".html"))
                   for url, h in product_pages.items())
        assert {h["purpose"] for url, h in headers.items() if "/product/" not in url} == {b"sitemap"}
        # The URLs the patterns left out were never published, so never fetched.
        served = {path for path in shop.stats.served_by_path if path.startswith("/product/")}
        assert served == {p.path for p in wanted}


BOMB_BYTES = 512 * 1024 * 1024
MANY_URLS = 5_000


@functools.cache
def sitemap_bomb() -> bytes:
    """A gzip file that decompresses to a 512 MiB sitemap (about 500 KiB on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * (1 << 20)
    packed = [packer.compress(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')]
    packed += [packer.compress(spaces) for _ in range(BOMB_BYTES >> 20)]
    return b"".join(packed) + packer.flush()


LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>
<urlset><url><loc>http://127.0.0.1/&h;</loc></url></urlset>"""


@contextlib.asynccontextmanager
async def hostile_sitemaps() -> AsyncIterator[str]:
    """A site whose robots.txt names a decompression bomb, an entity expansion, an overlong and a good sitemap."""
    async def robots(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        lines = "".join(f"Sitemap: {base}/{name}\n" for name in ("bomb.xml.gz", "laughs.xml", "many.xml", "ok.xml"))
        return web.Response(text=f"User-agent: *\n{lines}")

    def urlset(base: str, count: int) -> bytes:
        entries = "".join(f"<url><loc>{base}/page/{n}.html</loc></url>" for n in range(count))
        return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode()

    async def sitemap(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        base = f"http://{request.host}"
        body = {"bomb.xml.gz": sitemap_bomb, "laughs.xml": lambda: LAUGHS,
                "many.xml": lambda: urlset(base, MANY_URLS), "ok.xml": lambda: urlset(base, 1)}[name]()
        return web.Response(body=body, content_type="application/gzip" if name.endswith(".gz") else "text/xml")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html><body><p>a page</p></body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/page/{n}.html", page)
    app.router.add_get("/{name}", sitemap)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_a_hostile_sitemap_ends_as_a_dlq_record_not_a_crash_or_a_memory_blow_up(
        kafka_config, stages: StageProcesses):
    sitemap_bomb()  # built before the clock of the test starts
    async with hostile_sitemaps() as base:
        message = {"url": f"{base}/robots.txt", "depth": 0, "attempt": 1, "purpose": "discover"}
        await publish(kafka_config, [orjson.dumps(message).decode() + "\n"])
        stages.start("fetcher")
        parser = stages.start("parser", CRAWLPIPE_FOLLOW_LINKS="false", CRAWLPIPE_SITEMAP_MAX_URLS="1000")
        dead = [orjson.loads(r.value) for r in await read_topic(kafka_config, kafka_config.topic_dlq, 3)]
        failures = sorted((d["stage"], d["error_class"], d["input"]["key"].rsplit("/", 1)[1]) for d in dead)
        assert failures == [("parser", "bad_sitemap", "laughs.xml"), ("parser", "too_large", "bomb.xml.gz"),
                            ("parser", "too_large", "many.xml")], dead
        assert "DTDForbidden" in next(d["error"] for d in dead if d["error_class"] == "bad_sitemap")
        # The good sitemap's page is fetched: the parser went on.
        pages = await read_topic(kafka_config, kafka_config.topic_pages, 5)
        assert f"{base}/page/0.html" in {record.key.decode() for record in pages}
        assert parser.poll() is None
        # Held whole, the bomb alone would take 512 MiB; the parser stays far below it.
        peak_mb = psutil.Process(parser.pid).memory_info().rss / 2**20
        assert peak_mb < 250, f"parser RSS {peak_mb:.0f} MB after the hostile sitemaps"
