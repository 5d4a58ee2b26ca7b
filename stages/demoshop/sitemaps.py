"""The demo shop's sitemaps: robots.txt ``Sitemap:`` lines, a sitemap index, and product sitemaps.

Why: sitemap discovery (docs/discovery.md) is tested against this shop. The
index lists two sitemaps, so both kinds a crawler meets are served:
``/sitemaps/products-1.xml`` (plain XML: the products of the first half of the
listing pages) and ``/sitemaps/products-2.xml.gz`` (gzip file, served as
``application/gzip`` without a Content-Encoding: the rest). Every product has a
``<lastmod>`` that is a function of its id, so a test knows it. Removed
products (``live.py``) are left out, as a real shop's sitemap would.
"""

from __future__ import annotations

import gzip
import random
from xml.sax.saxutils import escape

from stages.demoshop.catalog import Catalog, Product
from stages.demoshop.live import LiveCatalog
from stages.demoshop.pages import ROBOTS_TXT

INDEX_PATH = "/sitemap.xml"
SITEMAP_PATHS = ("/sitemaps/products-1.xml", "/sitemaps/products-2.xml.gz")
_NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"


def render_robots(base_url: str) -> bytes:
    """robots.txt with the sitemap index's absolute URL (RFC 9309 leaves Sitemap lines to the sitemaps spec)."""
    return ROBOTS_TXT + f"Sitemap: {base_url.rstrip('/')}{INDEX_PATH}\n".encode()


def render_index(base_url: str) -> bytes:
    base = base_url.rstrip("/")
    entries = "".join(f"<sitemap><loc>{escape(base + path)}</loc></sitemap>\n" for path in SITEMAP_PATHS)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{_NAMESPACE}">\n{entries}'
            "</sitemapindex>\n").encode()


def lastmod(product_id: str) -> str:
    """The product's last modification as its sitemap gives it (W3C datetime, UTC)."""
    rng = random.Random(f"lastmod:{product_id}")
    return f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"


def render_sitemap(catalog: Catalog, base_url: str, part: int) -> bytes:
    """Sitemap ``part`` (1 or 2, as in ``SITEMAP_PATHS``); part 2 is gzip-compressed."""
    base = base_url.rstrip("/")
    half = (catalog.pages + 1) // 2
    pages = range(1, half + 1) if part == 1 else range(half + 1, catalog.pages + 1)
    entries = "".join(
        f"<url><loc>{escape(base + p.path)}</loc><lastmod>{lastmod(p.id)}</lastmod></url>\n"
        for n in pages for p in _listed(catalog, n)
    )
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{_NAMESPACE}">\n{entries}</urlset>\n'.encode()
    # mtime=0: the same catalogue gives the same bytes.
    return gzip.compress(xml, mtime=0) if part == 2 else xml


def _listed(catalog: Catalog, n: int) -> list[Product]:
    """Page ``n``'s products still on sale; read without rendering them (a volatile price moves per render)."""
    removed = catalog.is_removed if isinstance(catalog, LiveCatalog) else None
    return [p for p in Catalog.page_products(catalog, n) if not (removed and removed(p.id))]
