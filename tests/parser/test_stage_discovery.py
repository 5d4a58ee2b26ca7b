"""The parser stage's sitemap and recrawl pages: URL messages from sitemaps, discontinued records for gone products."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from stages.core.envelope import Envelope
from stages.core.errors import BadMessage
from stages.core.messages import encode_page_headers
from stages.core.schemas import validate
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import render_listing
from stages.demoshop.sitemaps import lastmod, render_index, render_sitemap
from stages.parser.ids import product_id
from stages.parser.settings import ParserConfig
from stages.parser.stage import ParserStage
from tests.conftest import SHOP_RULES

BASE = "http://127.0.0.1:8000"
CATALOG = Catalog(pages=2)


def page(url: str, body: bytes, *, status: int = 200, **url_message: Any) -> Envelope:
    meta = {"url": url, "final_url": url, "status": status, "content_type": "application/xml",
            "fetched_at": "2026-11-26T10:00:00.000000Z", "url_message": {"url": url, "depth": 0, "attempt": 1,
                                                                         **url_message}}
    return Envelope("pages", 0, 0, url.encode(), body, tuple(encode_page_headers(meta)), 0)


def parser(rules: Path = SHOP_RULES) -> ParserStage:
    return ParserStage(KafkaConfig(), ParserConfig(rules=rules, follow_links=False))


async def test_an_index_yields_sitemap_messages_and_a_gzip_urlset_page_messages_with_lastmod() -> None:
    stage = parser()
    index = [orjson.loads(e.value) for e in await stage.handle(page(f"{BASE}/sitemap.xml", render_index(BASE),
                                                                    purpose="sitemap"))]
    assert [(m["url"], m["purpose"]) for m in index] == [(f"{BASE}/sitemaps/products-1.xml", "sitemap"),
                                                         (f"{BASE}/sitemaps/products-2.xml.gz", "sitemap")]
    packed = render_sitemap(CATALOG, BASE, 2)
    assert packed.startswith(b"\x1f\x8b")
    emits = await stage.handle(page(f"{BASE}/sitemaps/products-2.xml.gz", packed, purpose="sitemap"))
    messages = [orjson.loads(e.value) for e in emits]
    assert {e.kind for e in emits} == {"link"}
    assert messages == [{"url": f"{BASE}{p.path}", "depth": 0, "attempt": 1, "lastmod": lastmod(p.id)}
                        for p in CATALOG.page_products(2)]
    for message in messages:
        validate("url", message)
    # The link dedupe: the same sitemap read again publishes nothing.
    assert await stage.handle(page(f"{BASE}/sitemaps/products-2.xml.gz", packed, purpose="sitemap")) == []


async def test_sitemap_follow_keeps_only_the_matching_urls(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(SHOP_RULES.read_text() + 'sitemap_follow = ["p0000010[0-4]"]\n')
    emits = await parser(rules).handle(page(f"{BASE}/s.xml", render_sitemap(CATALOG, BASE, 1), purpose="sitemap"))
    assert [orjson.loads(e.value)["url"] for e in emits] == [f"{BASE}/product/p0000010{i}.html" for i in range(5)]


def recrawl_of(p_index: int) -> dict[str, Any]:
    p = CATALOG.page_products(1)[p_index]
    return {"purpose": "recrawl", "product": product_id("demoshop", BASE + p.path, p.sku)}


@pytest.mark.parametrize("status", [404, 410])
async def test_a_recrawl_answered_404_or_410_is_a_discontinued_record(status: int) -> None:
    recrawl = recrawl_of(0)
    emits = await parser().handle(page(f"{BASE}/product/p00000100.html", b"", status=status, **recrawl))
    assert len(emits) == 1 and emits[0].key == recrawl["product"].encode()
    record = validate("discontinued", orjson.loads(emits[0].value))
    assert (record["reason"], record["fetched_at"], record["site"]) == (
        f"http_{status}", "2026-11-26T10:00:00.000000Z", "demoshop")


async def test_a_recrawled_listing_without_the_product_gives_not_on_page_and_its_products() -> None:
    listing = render_listing(CATALOG, 1)
    shown = await parser().handle(page(f"{BASE}/list/1.html", listing, **recrawl_of(3)))
    assert not any(orjson.loads(e.value).get("discontinued") for e in shown)
    missing = {**recrawl_of(3), "product": product_id("demoshop", f"{BASE}/product/gone.html", "GONE-1")}
    emits = await parser().handle(page(f"{BASE}/list/1.html", listing, **missing))
    records = [orjson.loads(e.value) for e in emits]
    assert len(records) == len(CATALOG.page_products(1)) + 1
    assert [r["reason"] for r in records if r.get("discontinued")] == ["not_on_page"]


async def test_a_sitemap_that_is_a_bomb_is_refused_by_the_stage() -> None:
    stage = ParserStage(KafkaConfig(), ParserConfig(follow_links=False, sitemap_max_bytes=1 << 20))
    bomb = gzip.compress(b"<urlset>" + b" " * (16 << 20))
    with pytest.raises(BadMessage) as caught:
        await stage.handle(page(f"{BASE}/bomb.xml.gz", bomb, purpose="sitemap"))
    assert caught.value.error_class == "too_large"
