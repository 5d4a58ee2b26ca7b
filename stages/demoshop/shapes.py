"""Site shapes for benchmarks: the same catalog as listings, detail pages, large pages, a slow site, many hosts.

A crawler tuned on one site shape can leave the machine idle on another, so
``ops/bench/e2e`` crawls each of these in turn:

- ``listing``: the shop's listing pages (48-80 KB, 24-48 products each), one host;
- ``detail``: product-detail pages of 30-150 KB in several templates, one product each, found by its JSON-LD
  (``detail.py``);
- ``large``: listing pages grown to 300-600 KB by page furniture (``large.py``);
- ``slow``: the listing pages again, each answer 50-200 ms late (``latency.py`` serves them);
- ``many-hosts``: the listing pages under ``MANY_HOSTS`` loopback addresses, 127.0.0.10 and up, page ``n`` on
  host ``n mod MANY_HOSTS``.

A shape's site is a directory of static files (``write_shape_site``), its URL
list and the product URLs a correct crawl finds follow from (shape, pages,
seed) and the base URLs it is served on.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from stages.demoshop.catalog import Catalog, Product
from stages.demoshop.detail import render_detail
from stages.demoshop.large import render_large
from stages.demoshop.pages import ROBOTS_TXT, render_listing
from stages.demoshop.site import WrittenSite

MANY_HOSTS = 64
FIRST_HOST = 10
SLOW_LATENCY_MS = (50, 200)
_PAGES_PER_WORKER_MIN = 500


@dataclass(frozen=True, slots=True)
class Shape:
    """One site shape: which pages its site holds (``site``), on how many hosts, and whether it answers at once."""

    name: str
    site: str
    hosts: int = 1
    fast: bool = True

    @property
    def addresses(self) -> tuple[str, ...]:
        """The loopback addresses the site is served on."""
        if self.hosts == 1:
            return ("127.0.0.1",)
        return tuple(f"127.0.0.{FIRST_HOST + i}" for i in range(self.hosts))


SHAPES: dict[str, Shape] = {shape.name: shape for shape in (
    Shape("listing", "listing"),
    Shape("detail", "detail"),
    Shape("large", "large"),
    Shape("slow", "listing", fast=False),
    Shape("many-hosts", "listing", hosts=MANY_HOSTS),
)}


def detail_products(catalog: Catalog, pages: int) -> Iterator[Product]:
    """The first ``pages`` products of the catalog, in catalog order: the detail shape's pages."""
    left = pages
    for n in range(1, catalog.pages + 1):
        for product in catalog.page_products(n):
            if left == 0:
                return
            yield product
            left -= 1


def catalog_for(site: str, pages: int, seed: int) -> Catalog:
    """The catalog behind a site of ``pages`` pages: the detail site needs only enough listings to hold them."""
    if site == "detail":
        return Catalog(max(1, -(-pages // 24)), seed)
    return Catalog(pages, seed)


def page_paths(site: str, pages: int, seed: int) -> list[str]:
    """The path of each page of the site, in crawl order."""
    catalog = catalog_for(site, pages, seed)
    if site == "detail":
        return [product.path for product in detail_products(catalog, pages)]
    return [catalog.listing_path(n) for n in range(1, pages + 1)]


def _bases(shape: Shape, bases: list[str]) -> list[str]:
    if len(bases) != shape.hosts:
        raise ValueError(f"shape {shape.name} is served on {shape.hosts} host(s), got {len(bases)} base URLs")
    return [base.rstrip("/") for base in bases]


def shape_urls(shape: Shape, pages: int, seed: int, bases: list[str]) -> list[str]:
    """Every page's URL, page ``k`` (0-based) on host ``k mod hosts``."""
    hosts = _bases(shape, bases)
    return [hosts[k % len(hosts)] + path for k, path in enumerate(page_paths(shape.site, pages, seed))]


def expected_product_urls(shape: Shape, pages: int, seed: int, bases: list[str]) -> set[str]:
    """The product URLs a correct crawl of ``shape_urls`` extracts (absolute, on the host of the page)."""
    hosts = _bases(shape, bases)
    catalog = catalog_for(shape.site, pages, seed)
    if shape.site == "detail":
        return {hosts[k % len(hosts)] + p.path for k, p in enumerate(detail_products(catalog, pages))}
    return {hosts[(n - 1) % len(hosts)] + p.path for n in range(1, pages + 1) for p in catalog.page_products(n)}


def _write_range(site: str, pages: int, seed: int, directory: str, first: int, last: int) -> WrittenSite:
    """Render and write pages ``first..last`` (1-based, in ``page_paths`` order); runs in a worker."""
    catalog = catalog_for(site, pages, seed)
    root = Path(directory)
    size = 0
    if site == "detail":
        products = list(detail_products(catalog, last))[first - 1:]
        for product in products:
            body = render_detail(catalog, product.id, seed)
            (root / product.path.lstrip("/")).write_bytes(body)
            size += len(body)
        return WrittenSite(len(products), size)
    render = render_large if site == "large" else lambda c, n, _seed: render_listing(c, n)
    for n in range(first, last + 1):
        body = render(catalog, n, seed)
        (root / catalog.listing_path(n).lstrip("/")).write_bytes(body)
        size += len(body)
    return WrittenSite(last - first + 1, size)


def write_shape_site(site: str, pages: int, seed: int, directory: str | os.PathLike[str]) -> WrittenSite:
    """Write a site of ``pages`` pages (``listing``, ``detail`` or ``large``) under ``directory``, in parallel."""
    root = Path(directory)
    for sub in ("list", "product"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "robots.txt").write_bytes(ROBOTS_TXT)
    count = max(1, min(os.cpu_count() or 1, pages // _PAGES_PER_WORKER_MIN))
    bounds = [(pages * k // count + 1, pages * (k + 1) // count) for k in range(count)]
    args = [(site, pages, seed, str(root), first, last) for first, last in bounds]
    if count == 1:
        written = [_write_range(*args[0])]
    else:
        # "spawn": the caller may be an asyncio program with threads, which fork would copy mid-state.
        with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn")) as pool:
            written = list(pool.map(_write_range, *zip(*args, strict=True)))
    return WrittenSite(1 + sum(w.files for w in written), len(ROBOTS_TXT) + sum(w.bytes for w in written))
