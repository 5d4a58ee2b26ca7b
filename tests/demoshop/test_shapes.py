"""Site shapes: detail and large pages of the promised sizes and templates, found whole by the parser's extraction;
the written sites, URL lists and expected products agree; the slow site answers late and only inside its root."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from stages.demoshop.catalog import Catalog
from stages.demoshop.detail import MAX_DETAIL_BYTES, MIN_DETAIL_BYTES, render_detail
from stages.demoshop.large import MAX_LARGE_BYTES, MIN_LARGE_BYTES, render_large
from stages.demoshop.latency import latency_seconds, start_slow_site
from stages.demoshop.pages import render_listing
from stages.demoshop.shapes import (
    MANY_HOSTS,
    SHAPES,
    detail_products,
    expected_product_urls,
    page_paths,
    shape_urls,
    write_shape_site,
)
from stages.parser.extract import extract_page
from stages.parser.rules import load_rules

REPO = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8000"
RULES = load_rules(REPO / "stages/demoshop/rules.toml").for_host("127.0.0.1")


def extracted(body: bytes, path: str):
    return extract_page(body, url=BASE + path, header_charset="utf-8", rules=RULES, with_links=False).products


def test_detail_pages_vary_in_size_and_template_with_the_seed() -> None:
    catalog = Catalog(3)
    products = list(detail_products(catalog, 60))
    pages = [render_detail(catalog, p.id, seed=7) for p in products]
    assert all(MIN_DETAIL_BYTES <= len(page) <= MAX_DETAIL_BYTES + 4_000 for page in pages)
    assert max(map(len, pages)) - min(map(len, pages)) > 60_000
    templates = {cls for page in pages for cls in (b'class="pdp"', b'class="product-main"', b'class="item-view"')
                 if cls in page}
    assert len(templates) == 3
    assert render_detail(catalog, products[0].id, seed=7) == pages[0]
    assert render_detail(catalog, products[0].id, seed=8) != pages[0]


def test_a_detail_page_gives_its_one_product_through_json_ld() -> None:
    catalog = Catalog(3)
    for product in list(detail_products(catalog, 40))[::7]:
        [found] = extracted(render_detail(catalog, product.id, seed=7), product.path)
        assert (found.url, found.title, found.sku, found.availability) == \
            (BASE + product.path, product.title, product.sku, product.availability)
        assert (Decimal(found.price.amount), found.price.currency) == (product.price, product.currency)


def test_large_pages_are_the_listing_with_300_to_600_kb_around_the_same_products() -> None:
    catalog = Catalog(12)
    for n in range(1, 13):
        page = render_large(catalog, n, seed=7)
        assert MIN_LARGE_BYTES <= len(page) <= MAX_LARGE_BYTES + 4_000
        path = catalog.listing_path(n)
        assert extracted(page, path) == extracted(render_listing(catalog, n), path)
        assert [p.sku for p in extracted(page, path)] == [p.sku for p in catalog.page_products(n)]


@pytest.mark.parametrize("site", ["listing", "detail", "large"])
def test_written_site_holds_every_url_and_the_expected_products(tmp_path: Path, site: str) -> None:
    written = write_shape_site(site, 5, 7, tmp_path)
    paths = page_paths(site, 5, 7)
    assert written.files == 1 + len(paths) == 6
    shape = next(shape for shape in SHAPES.values() if shape.site == site)
    found = set()
    for url in shape_urls(shape, 5, 7, [BASE]):
        path = url.removeprefix(BASE)
        found |= {product.url for product in extracted((tmp_path / path.lstrip("/")).read_bytes(), path)}
    assert found == expected_product_urls(shape, 5, 7, [BASE])


def test_many_hosts_spreads_pages_over_every_host() -> None:
    shape = SHAPES["many-hosts"]
    bases = [f"http://{address}:8000" for address in shape.addresses]
    assert len(set(bases)) == MANY_HOSTS >= 50 and all(a.startswith("127.0.0.") for a in shape.addresses)
    urls = shape_urls(shape, 200, 7, bases)
    assert {url.rsplit("/list/", 1)[0] for url in urls} == set(bases)
    expected = expected_product_urls(shape, 200, 7, bases)
    catalog = Catalog(200, 7)
    assert len(expected) == sum(len(catalog.page_products(n)) for n in range(1, 201))
    assert bases[1] + catalog.page_products(2)[0].path in expected
    with pytest.raises(ValueError, match="64 host"):
        shape_urls(shape, 10, 7, [BASE])


async def test_slow_site_answers_each_path_after_its_latency(tmp_path: Path) -> None:
    write_shape_site("listing", 3, 7, tmp_path)
    (tmp_path.parent / "secret.txt").write_text("outside the root")
    runner, base = await start_slow_site(tmp_path, seed=7, low_ms=30, high_ms=60)
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/list/1.html", "/list/3.html"):
                started = time.monotonic()
                async with session.get(base + path) as response:
                    assert response.status == 200
                    assert await response.read() == (tmp_path / path.lstrip("/")).read_bytes()
                assert time.monotonic() - started >= latency_seconds(path, 7, 30, 60) >= 0.03
            for path in ("/list/4.html", "/%2E%2E/secret.txt"):
                async with session.get(base + path) as response:
                    assert response.status == 404
    finally:
        await runner.cleanup()
    assert latency_seconds("/list/1.html", 7, 50, 200) == latency_seconds("/list/1.html", 7, 50, 200)
