"""A synthetic but realistic category page, for the timing run and its correctness test.

Real listing pages spend most of their bytes outside the product cards (menus,
filters, footers, inline scripts), so the page carries that bulk too: timing a
page made only of cards would flatter the parser.
"""

from __future__ import annotations

_NAV = "".join(
    f'<li class="nav-item"><a class="nav-link" href="/c/{dept}/{sub}">{dept.title()} {sub}</a></li>'
    for dept in ("women", "men", "kids", "home", "garden", "sport")
    for sub in range(14)
)
_FILTERS = "".join(
    f'<label class="facet"><input type="checkbox" name="brand" value="b{i}"> Brand {i} '
    f'<span class="count">({i * 7 % 91})</span></label>'
    for i in range(40)
)
_FOOTER = "".join(
    f'<div class="footer-col"><h4>Column {c}</h4><ul>'
    + "".join(f'<li><a href="/info/{c}/{i}">Information page {c}.{i}</a></li>' for i in range(8))
    + "</ul></div>"
    for c in range(6)
)
_SCRIPT = "window.dataLayer=window.dataLayer||[];" + "".join(
    f"dataLayer.push({{event:'impression',list:'category',position:{i}}});" for i in range(20)
)

_CARD = """
<div class="product product-card col-6 col-md-3" data-sku="SKU-{i:05d}" data-position="{i}">
  <div class="product-card__media">
    <a class="product-link" href="/p/widget-{i}?ref=listing">
      <img class="product-image lazyload" src="//cdn.example.com/img/{i}/300x300.jpg" alt="Widget {i} image" width="300" height="300" loading="lazy">
    </a>
    <span class="badge badge-sale">-{pct}%</span>
  </div>
  <div class="product-card__body">
    <h2 class="product-title"><a href="/p/widget-{i}?ref=listing">Ergonomic Widget {i} &ndash; {color}, {size}</a></h2>
    <div class="rating" title="4.{r} out of 5"><span class="stars" style="width:{w}%"></span><span class="reviews">({rev} reviews)</span></div>
    <div class="prices"><span class="price price--sale">${dollars},{cents:03d}.{c2:02d}</span> <s class="price price--old">${old}.00</s></div>
    <span class="availability">{avail}</span>
    <ul class="swatches"><li class="swatch" data-color="red"></li><li class="swatch" data-color="blue"></li><li class="swatch" data-color="green"></li></ul>
    <button class="btn btn-primary add-to-cart" data-product="{i}" type="button">Add to cart</button>
  </div>
</div>"""


def listing_page(products: int = 40) -> bytes:
    """Return the UTF-8 bytes of a category page with `products` cards and a next-page link."""
    cards = "".join(
        _CARD.format(
            i=i,
            pct=10 + i % 40,
            color=("Red", "Blue", "Green", "Black")[i % 4],
            size=("S", "M", "L", "XL")[i % 4],
            r=i % 10,
            w=80 + i % 20,
            rev=i * 13 % 500,
            dollars=1 + i % 3,
            cents=i * 37 % 1000,
            c2=i % 100,
            old=2000 + i,
            avail="Only 3 left in stock" if i % 5 else "Sold out",
        )
        for i in range(products)
    )
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Widgets | Example Store</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/css/main.css"><link rel="next" href="/c/widgets?page=3">
<script>{_SCRIPT}</script></head>
<body class="category-page">
<header class="site-header"><nav><ul class="nav">{_NAV}</ul></nav></header>
<main class="container"><aside class="filters">{_FILTERS}</aside>
<section class="product-grid">{cards}</section>
<nav class="pagination"><a class="prev" href="/c/widgets?page=1">Previous</a> <a class="next" href="/c/widgets?page=3">Next</a></nav>
</main>
<footer class="site-footer">{_FOOTER}</footer>
</body></html>"""
    return html.encode("utf-8")
