"""DemoShop: a generated, deterministic shop site to crawl in demos, tests and benchmarks.

Why: the pipeline's behaviour (throughput, memory bound, replay, exactly-once
effect) can only be checked against a site whose every product is known in
advance. ``Catalog(pages, seed)`` defines the shop; ``expected_products`` is
what a correct crawl extracts. The same bytes are served two ways:

- ``start_shop(catalog)`` / ``python -m stages.demoshop --pages N``: aiohttp,
  rendering on request (integration tests, ``make demo``);
- ``write_site(catalog, directory)``: static files for nginx (benchmarks).

URLs: ``/robots.txt`` (disallows ``/private/``), ``/list/{n}.html`` for
``n`` in ``1..pages`` (24-48 products, 48-80 KB each), and
``/product/{id}.html``. Everything else is 404, including the category,
help and account links the pages carry to look real.

The markup contract parser rules target, one per product on a listing page
(links relative, title HTML-escaped, price as the shop displays it)::

    <div class="product" data-sku="{sku}">
      <a class="product-link" href="/product/{id}.html"><h2 class="product-title">{title}</h2></a>
      <img class="product-image" src="/img/{id}.jpg" alt="{title}">
      <span class="price">{display price}</span>
      <span class="availability">{In stock|Out of stock}</span>
    </div>

Pagination: ``<a class="next" rel="next" href="/list/{n+1}.html">Next</a>``
on every page but the last, ``<a class="prev" rel="prev" ...>`` on every page
but the first, and numbered ``<a class="page" ...>`` links. Displayed prices
use the formats ``$1,234.56``, ``from $9.99``, ``1.234,56 €``,
``12,50 EUR``, ``£12.00``, ``¥1,200`` and ``CHF 1'234.50``. Product pages
hold a ``div.product-detail`` with the same fields and a schema.org Product
JSON-LD block with ``offers.price`` and ``offers.priceCurrency``.
"""

from stages.demoshop.catalog import Catalog, Product
from stages.demoshop.pages import render_listing, render_product
from stages.demoshop.server import RunningShop, ShopStats, start_shop
from stages.demoshop.site import WrittenSite, write_site

__all__ = [
    "Catalog",
    "Product",
    "RunningShop",
    "ShopStats",
    "WrittenSite",
    "render_listing",
    "render_product",
    "start_shop",
    "write_site",
]
