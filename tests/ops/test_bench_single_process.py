"""ops/bench/single_process.py: the e2e baseline writes the parser's product records for every product of a real shop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from stages.core.product import Product
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.parser.ids import product_id
from tests.conftest import ROOT


async def test_writes_one_product_record_per_shop_product(tmp_path: Path) -> None:
    catalog = Catalog(4)
    async with await start_shop(catalog) as shop:
        urls = tmp_path / "urls.txt"
        urls.write_text("\n".join(catalog.listing_urls(shop.base_url)) + "\n")
        out = tmp_path / "products.jsonl"
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "ops/bench/single_process.py"), str(urls), str(out),
            "--rules", str(ROOT / "stages/demoshop/rules.toml"))
        assert await process.wait() == 0
        expected = {p["url"]: p for p in catalog.expected_products(shop.base_url)}
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(r["url"] for r in records) == sorted(expected)
    for record in records:
        product = Product.from_record(record)  # the sink's own check of a published record
        want = expected[product.url]
        assert (product.title, str(product.price), product.currency, product.sku, product.availability,
                product.page_url) == (want["title"], want["price"], want["currency"], want["sku"],
                                      want["availability"], want["page"])
        assert (product.site, product.method, product.id) == ("demoshop", "rules",
                                                              product_id("demoshop", product.url, product.sku))
