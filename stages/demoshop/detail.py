"""Product-detail pages of 30-150 KB in one of several templates: the ``detail`` page shape.

``pages.render_product`` is a 2 KB page for the live shop's links; a real
product page weighs 30-150 KB (gallery, description, specifications, reviews,
related products, a state blob for the client) and its markup differs from
one shop template to the next. Only its JSON-LD is a contract, so these
pages are what extraction without site rules is measured on. The template,
the size and the filler are drawn from ``random.Random(f"{seed}:{id}")``;
the product (title, price, SKU, availability) is the catalog's.

Every template shows the JSON-LD price on the page as well, in its own
markup, as shops do; related products show theirs in a separate section.
"""

from __future__ import annotations

import json
import random
from html import escape

from stages.demoshop.catalog import IN_STOCK, Catalog, Product
from stages.demoshop.filler import paragraphs, review, spec_rows
from stages.demoshop.pages import json_ld

MIN_DETAIL_BYTES = 30_000
MAX_DETAIL_BYTES = 150_000

# (wrapper class, title tag and class, price class): what differs between shop templates.
_TEMPLATES = (
    ("pdp", "h1", "pdp-title", "pdp-price"),
    ("product-main", "h1", "product-name", "current-price"),
    ("item-view", "h2", "item-heading", "amount"),
)


def _related(rng: random.Random, catalog: Catalog, p: Product) -> str:
    """A carousel of other products of the catalog, with their prices, outside the main product's markup."""
    products = catalog.page_products(p.page)
    picked = [products[int(rng.random() * len(products))] for _ in range(rng.randint(4, 12))]
    cells = "".join(
        f'<li class="related-item"><a href="{r.path}"><img src="{r.image_path}" alt="" loading="lazy">'
        f'<span class="related-name">{escape(r.title)}</span></a>'
        f'<span class="related-price">{r.display_price}</span></li>\n'
        for r in picked if r.id != p.id
    )
    return f'<section class="related"><h3>You may also like</h3><ul>\n{cells}</ul></section>\n'


def _state_blob(rng: random.Random, p: Product, count: int) -> str:
    """The client's state as inline JSON (not JSON-LD): variants and copy the page hydrates from."""
    state = {"product": p.id, "variants": [
        {"id": f"{p.id}-{i}", "label": f"Variant {i}", "stock": rng.randint(0, 40), "copy": text}
        for i, text in enumerate(paragraphs(rng, count))
    ]}
    return ('<script type="application/json" id="__STATE__">'
            + json.dumps(state, ensure_ascii=False).replace("</", "<\\/") + "</script>\n")


def render_detail(catalog: Catalog, product_id: str, seed: int) -> bytes:
    """The detail page of one product in one of the templates; ``KeyError`` if there is no such product."""
    p = catalog.product(product_id)
    rng = random.Random(f"{seed}:{product_id}")
    wrapper, title_tag, title_class, price_class = _TEMPLATES[int(rng.random() * len(_TEMPLATES))]
    target = rng.randint(MIN_DETAIL_BYTES, MAX_DETAIL_BYTES)
    title = escape(p.title)
    availability = "In stock" if p.availability == IN_STOCK else "Out of stock"
    thumbs = "".join(f'<img class="thumb" src="/img/{p.id}-{i}.jpg" alt="{title}, view {i}" loading="lazy">\n'
                     for i in range(rng.randint(3, 9)))
    ld = json_ld(p, url=p.path, image=[p.image_path, p.image_path.replace(".jpg", "-2.jpg")])
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title} | DemoShop</title>\n"
        f'<link rel="canonical" href="{p.path}">\n'
        f'<script type="application/ld+json">{ld}</script>\n'
        "</head>\n<body>\n"
        f'<nav class="breadcrumbs"><a href="/list/1.html">Home</a> › <a href="/list/{p.page}.html">'
        f"Page {p.page}</a> › {title}</nav>\n"
        f'<main class="{wrapper}">\n<div class="gallery">\n{thumbs}</div>\n'
        f'<{title_tag} class="{title_class}">{title}</{title_tag}>\n'
        f'<div class="buy-box"><span class="{price_class}">{p.display_price}</span>\n'
        f'<span class="stock">{availability}</span> <span class="sku">SKU: {p.sku}</span>\n'
        '<button class="add-to-cart">Add to cart</button></div>\n'
        '<section class="description"><h3>Description</h3>\n<p>'
        + "</p>\n<p>".join(paragraphs(rng, rng.randint(2, 6))) + "</p></section>\n"
        f'<table class="specs">\n{spec_rows(rng, rng.randint(6, 30))}</table>\n'
        + _related(rng, catalog, p)
    )
    tail = "</main>\n" + _state_blob(rng, p, rng.randint(2, 20)) + "</body>\n</html>\n"
    parts = [head, '<ol class="reviews">\n']
    size = len(head.encode()) + len(tail.encode())
    index = 0
    while size < target:
        item = review(rng, index)
        parts.append(item)
        size += len(item.encode())
        index += 1
    parts += ["</ol>\n", tail]
    return "".join(parts).encode()
