"""The parser stage's outputs for a shop page match schemas/ (the parser does not re-validate them)."""

from __future__ import annotations

import orjson
import pytest

from stages.core.config import KafkaConfig
from stages.core.envelope import Envelope
from stages.core.errors import BadMessage
from stages.core.messages import encode_page_headers
from stages.core.schemas import validate
from stages.core.stage import StageContext
from stages.core.window import Window
from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import render_listing
from stages.parser.settings import ParserConfig
from stages.parser.stage import ParserStage
from tests.conftest import SHOP_RULES

BASE = "http://127.0.0.1:8000"


async def test_products_and_followed_links_match_their_schemas():
    catalog = Catalog(pages=3)
    url = f"{BASE}/list/2.html"
    meta = {"url": url, "final_url": url, "status": 200, "content_type": "text/html", "charset": "utf-8",
            "fetched_at": "2026-11-26T10:00:00.000000Z", "timings": {"total": 0.01},
            "url_message": {"url": url, "depth": 0, "attempt": 1}}
    envelope = Envelope("pages", 0, 0, url.encode(), render_listing(catalog, 2),
                        tuple(encode_page_headers(meta)), 0)
    kafka_config = KafkaConfig()
    stage = ParserStage(kafka_config, ParserConfig(rules=SHOP_RULES))
    await stage.start(StageContext(window=Window(max_messages=1, max_bytes=1)))
    try:
        emits = await stage.handle(envelope)
    finally:
        await stage.stop()

    assert {emit.kind for emit in emits} <= set(ParserStage.outputs)
    products = [orjson.loads(e.value) for e in emits if e.kind == "product"]
    links = [orjson.loads(e.value) for e in emits if e.kind == "link"]
    assert len(products) == len(catalog.page_products(2))
    for product in products:
        validate("product", product)
    assert {p["url"] for p in products} == {p["url"] for p in catalog.expected_products(BASE) if p["page"] == url}
    assert [link["url"] for link in links] == [f"{BASE}/list/3.html"]
    for link in links:
        validate("url", link)
        assert link["depth"] == 1


async def test_a_page_above_the_size_bound_is_refused_before_parsing():
    stage = ParserStage(KafkaConfig(), ParserConfig(max_page_bytes=1000))
    envelope = Envelope("pages", 0, 0, b"k", b"<html>" + b"x" * 2000, (), 0)
    with pytest.raises(BadMessage) as refused:
        await stage.handle(envelope)
    assert refused.value.error_class == "too_large"


async def test_followed_links_are_held_to_the_one_url_contract():
    """A numeric spelling of the page's host is the same host; credentials are stripped; a too-long link is dropped."""
    url = f"{BASE}/list/1.html"
    body = ("<html><body>"
            '<a rel="next" href="http://127.1:8000/a">a</a>'
            '<a rel="next" href="http://me:secret@127.0.0.1:8000/b">b</a>'
            f'<a rel="next" href="/{"c" * 3000}">c</a>'
            '<a rel="next" href="http://[zz]/d">d</a>'
            "</body></html>").encode()
    meta = {"url": url, "final_url": url, "status": 200, "content_type": "text/html", "charset": "utf-8",
            "fetched_at": "2026-11-26T10:00:00.000000Z", "timings": {"total": 0.01},
            "url_message": {"url": url, "depth": 0, "attempt": 1}}
    kafka_config = KafkaConfig()
    stage = ParserStage(kafka_config, ParserConfig())
    await stage.start(StageContext(window=Window(max_messages=1, max_bytes=1)))
    try:
        emits = await stage.handle(Envelope("pages", 0, 0, url.encode(), body, tuple(encode_page_headers(meta)), 0))
    finally:
        await stage.stop()
    links = [orjson.loads(e.value)["url"] for e in emits if e.kind == "link"]
    assert links == [f"{BASE}/a", f"{BASE}/b"]
