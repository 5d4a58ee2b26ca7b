"""Listing pages of 300-600 KB: the ``large`` page shape.

Heavy shop pages are heavy around their products, not in them: a grid of
"recently viewed" tiles, a mega-menu, reviews, and a state blob for the
client. A large page is the listing page of ``pages.render_listing`` (so its
products and the rules that find them are the listing's) with such a block
added before the end of ``<main>``; which parts, how many of each, and the
page's size are drawn from ``random.Random(f"{seed}:large:{n}")``.
"""

from __future__ import annotations

import json
import random
from html import escape

from stages.demoshop.catalog import Catalog
from stages.demoshop.filler import paragraphs, review
from stages.demoshop.pages import render_listing

MIN_LARGE_BYTES = 300_000
MAX_LARGE_BYTES = 600_000


def _tiles(rng: random.Random, catalog: Catalog, n: int, count: int) -> str:
    """Recently viewed products: DOM-heavy cells whose markup is not the listing's ``div.product``."""
    products = catalog.page_products(rng.randint(1, catalog.pages))
    return "".join(
        f'<div class="tile"><a href="{p.path}"><img src="{p.image_path}" alt="" loading="lazy" width="120" '
        f'height="120"></a><span class="tile-name">{escape(p.title)}</span>'
        f'<span class="tile-price">{p.display_price}</span><span class="tile-rating">'
        f'{"★" * (1 + i % 5)}</span></div>\n'
        for i, p in enumerate(products[int(rng.random() * len(products))] for _ in range(count))
    )


def _menu(rng: random.Random, count: int) -> str:
    """A mega-menu: many nested links."""
    return "".join(
        f'<li class="menu-group"><span>Group {g}</span><ul>'
        + "".join(f'<li><a href="/category/g{g}-{k}.html">Item {g}.{k}</a></li>' for k in range(rng.randint(8, 24)))
        + "</ul></li>\n"
        for g in range(count)
    )


def _state(rng: random.Random, count: int) -> str:
    state = {"recommendations": [{"rank": i, "copy": text} for i, text in enumerate(paragraphs(rng, count))]}
    return ('<script type="application/json" id="__STATE__">'
            + json.dumps(state, ensure_ascii=False).replace("</", "<\\/") + "</script>\n")


def render_large(catalog: Catalog, n: int, seed: int) -> bytes:
    """Listing page ``n`` with 230-550 KB of page furniture added; ``IndexError`` if there is no such page."""
    listing = render_listing(catalog, n)
    rng = random.Random(f"{seed}:large:{n}")
    budget = rng.randint(MIN_LARGE_BYTES, MAX_LARGE_BYTES) - len(listing)
    # Shares of the added bytes: DOM (tiles, menu, reviews) against a script's text, which a parser skips.
    dom_share = rng.uniform(0.4, 0.9)
    parts = [
        '<section class="recently-viewed"><h2>Recently viewed</h2>\n',
        _tiles(rng, catalog, n, int(budget * dom_share * 0.5 / 450)),
        '</section>\n<nav class="mega-menu"><ul>\n',
        _menu(rng, int(budget * dom_share * 0.2 / 900)),
        '</ul></nav>\n<ol class="reviews">\n',
    ]
    size = sum(len(part.encode()) for part in parts)
    index = 0
    while size < budget * dom_share:
        item = review(rng, index)
        parts.append(item)
        size += len(item.encode())
        index += 1
    parts.append("</ol>\n")
    # About 600 bytes of JSON per paragraph.
    parts.append(_state(rng, max(1, int((budget - size) / 600))))
    extra = "".join(parts).encode()
    return listing.replace(b"</main>", extra + b"</main>", 1)
