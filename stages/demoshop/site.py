"""Write the demo shop as static files, for nginx to serve in the benchmarks.

The tree mirrors the URLs the live server answers (``server.py``), byte for
byte: ``robots.txt``, ``list/{n}.html`` and, if asked, ``product/{id}.html``.

Rendering costs about 1 ms per listing page, so 20,000 pages would take about
20 s on one core; pages are independent (``catalog.py``), so larger sites are
split into page ranges rendered by worker processes.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import ROBOTS_TXT, render_listing, render_product

# Below this many pages per worker, starting a process costs more than it saves.
_PAGES_PER_WORKER_MIN = 1_000


@dataclass(frozen=True, slots=True)
class WrittenSite:
    """What ``write_site`` wrote, for the benchmark's log line."""

    files: int
    bytes: int


def _write_range(pages: int, seed: int, directory: str, first: int, last: int,
                 product_pages: bool) -> WrittenSite:
    """Render and write listing pages ``first..last`` (and their products); runs in a worker."""
    catalog = Catalog(pages, seed)
    root = Path(directory)
    files = size = 0
    for n in range(first, last + 1):
        body = render_listing(catalog, n)
        (root / "list" / f"{n}.html").write_bytes(body)
        files, size = files + 1, size + len(body)
        if product_pages:
            for product in catalog.page_products(n):
                body = render_product(catalog, product.id)
                (root / "product" / f"{product.id}.html").write_bytes(body)
                files, size = files + 1, size + len(body)
    return WrittenSite(files, size)


def write_site(catalog: Catalog, directory: str | os.PathLike[str], *,
               product_pages: bool = False, workers: int | None = None) -> WrittenSite:
    """Write the shop under ``directory`` (created if missing), replacing files already there.

    ``product_pages`` is off by default: the crawl only needs listings, and a
    20,000-page shop has about 720,000 products. ``workers`` defaults to the
    CPU count, used only when each worker gets at least 1,000 pages.
    """
    root = Path(directory)
    (root / "list").mkdir(parents=True, exist_ok=True)
    if product_pages:
        (root / "product").mkdir(exist_ok=True)
    (root / "robots.txt").write_bytes(ROBOTS_TXT)
    written = [WrittenSite(1, len(ROBOTS_TXT))]

    wanted = workers if workers is not None else os.cpu_count() or 1
    count = max(1, min(wanted, catalog.pages // _PAGES_PER_WORKER_MIN))
    bounds = [(catalog.pages * k // count + 1, catalog.pages * (k + 1) // count) for k in range(count)]
    args = [(catalog.pages, catalog.seed, str(root), first, last, product_pages) for first, last in bounds]
    if count == 1:
        written.append(_write_range(*args[0]))
    else:
        # "spawn": the caller may be a test or an asyncio program with threads, which fork would copy mid-state.
        with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn")) as pool:
            written.extend(pool.map(_write_range, *zip(*args, strict=False)))
    return WrittenSite(sum(w.files for w in written), sum(w.bytes for w in written))
