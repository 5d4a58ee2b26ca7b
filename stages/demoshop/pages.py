"""The demo shop's HTML: listing pages, product pages and robots.txt, as bytes.

Listing pages weigh 48-80 KB, like the pages the design's measurements were
taken on, so parser and fetcher benchmarks see realistic work: inline scripts
and a style block the parser has to skip, a nav of 50 category links it must
not mistake for products, and per-item markup around each product.

Everything that does not depend on the page number (style, scripts, nav,
footer) is built once at import; a page is a join of those parts with its
own products, so ``write_site`` can render 20,000 pages quickly.

The product markup is a contract the parser rules target; see the package
docstring. Category links (``/category/...``) and the account link
(``/private/...``, disallowed by robots.txt) deliberately lead nowhere: a
crawler following more than pagination will see 404s.
"""

from __future__ import annotations

import json
from html import escape

from stages.demoshop.catalog import IN_STOCK, Catalog, Product

SHOP_NAME = "DemoShop"
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"

_CATEGORIES = (
    "Kitchen", "Cookware", "Bakeware", "Cutlery", "Knives", "Coffee & Tea",
    "Tableware", "Glassware", "Storage", "Cleaning", "Laundry", "Bathroom",
    "Bedding", "Towels", "Rugs", "Curtains", "Lighting", "Lamps", "Furniture",
    "Office", "Stationery", "Notebooks", "Pens", "Backpacks", "Luggage",
    "Travel", "Outdoor", "Camping", "Garden", "Plants", "Pets", "Toys",
    "Games", "Books", "Audio", "Headphones", "Speakers", "Cables",
    "Chargers", "Phone Cases", "Watches", "Jewellery", "Sunglasses", "Bags",
    "Wallets", "Sports", "Fitness", "Yoga", "Cycling", "Gifts",
)

# Icons as one inline sprite, referenced by <use>: what shops do to save requests.
_ICONS = {
    "cart": "M7 18a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm10 0a2 2 0 1 0 0 4 2 2 0 0 0 0-4zM7.2 14h9.9a2 2 0 0 0 1.8-1.1"
            "l3.6-7A1 1 0 0 0 21.6 4H5.2L4.3 2H1v2h2l3.6 7.6-1.4 2.4A2 2 0 0 0 7 17h12v-2H7.4z",
    "search": "M15.5 14h-.8l-.3-.3A6.5 6.5 0 1 0 9.5 16a6.5 6.5 0 0 0 4.2-1.6l.3.3v.8l5 5 1.5-1.5-5-5z"
              "m-6 0A4.5 4.5 0 1 1 14 9.5 4.5 4.5 0 0 1 9.5 14z",
    "heart": "M12 21.4l-1.5-1.3C5.4 15.4 2 12.3 2 8.5A5.4 5.4 0 0 1 7.5 3 6 6 0 0 1 12 5.1 6 6 0 0 1 16.5 3"
             "A5.4 5.4 0 0 1 22 8.5c0 3.8-3.4 6.9-8.5 11.5z",
    "star": "M10 1.5l2.6 5.3 5.9.9-4.3 4.1 1 5.8L10 14.9l-5.2 2.7 1-5.8L1.5 7.7l5.9-.9z",
    "chevron-left": "M15.4 7.4L14 6l-6 6 6 6 1.4-1.4L10.8 12z",
    "chevron-right": "M10 6L8.6 7.4 13.2 12l-4.6 4.6L10 18l6-6z",
    "truck": "M20 8h-3V4H3a2 2 0 0 0-2 2v11h2a3 3 0 0 0 6 0h6a3 3 0 0 0 6 0h2v-5zM6 18.5A1.5 1.5 0 1 1 7.5 17"
             " 1.5 1.5 0 0 1 6 18.5zm13.5-9 2 2.5H17V9.5zM18 18.5a1.5 1.5 0 1 1 1.5-1.5 1.5 1.5 0 0 1-1.5 1.5z",
    "return": "M12 5V1L7 6l5 5V7a6 6 0 1 1-6 6H4a8 8 0 1 0 8-8z",
    "instagram": "M7.8 2h8.4A5.8 5.8 0 0 1 22 7.8v8.4a5.8 5.8 0 0 1-5.8 5.8H7.8A5.8 5.8 0 0 1 2 16.2V7.8"
                 "A5.8 5.8 0 0 1 7.8 2zm-.2 2A3.6 3.6 0 0 0 4 7.6v8.8A3.6 3.6 0 0 0 7.6 20h8.8a3.6 3.6 0 0 0 3.6-3.6"
                 "V7.6A3.6 3.6 0 0 0 16.4 4H7.6zm9.7 1.5a1.3 1.3 0 1 1 0 2.5 1.3 1.3 0 0 1 0-2.5zM12 7a5 5 0 1 1 0 10"
                 " 5 5 0 0 1 0-10zm0 2a3 3 0 1 0 0 6 3 3 0 0 0 0-6z",
}
_SPRITE = (
    '<svg xmlns="http://www.w3.org/2000/svg" style="display:none">\n'
    + "".join(f'<symbol id="icon-{name}" viewBox="0 0 24 24"><path d="{d}"/></symbol>\n'
              for name, d in _ICONS.items())
    + "</svg>\n"
)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).replace("---", "-")


def _utility_css() -> str:
    """A utility-class stylesheet of the kind CSS frameworks emit: long, regular, never read by a crawler."""
    rules = [
        "*,*::before,*::after{box-sizing:border-box}",
        "body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
        "line-height:1.5;color:#1f2328;background:#fff}",
        ".product-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));"
        "gap:1.5rem;list-style:none;padding:0}",
        ".product{position:relative;display:flex;flex-direction:column;gap:.5rem}",
        ".product-title{font-size:1rem;font-weight:600;margin:0}",
        ".product-image{width:100%;aspect-ratio:1/1;object-fit:cover;border-radius:.5rem}",
        ".price{font-size:1.125rem;font-weight:700;color:#0a7f3f}",
        ".availability{font-size:.875rem;color:#57606a}",
        ".pagination{display:flex;gap:.5rem;justify-content:center;margin:2rem 0}",
        ".categories ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none}",
    ]
    for i, size in enumerate(("0", ".25rem", ".5rem", ".75rem", "1rem", "1.25rem",
                              "1.5rem", "2rem", "2.5rem", "3rem", "4rem", "5rem")):
        for prefix, prop in (("m", "margin"), ("p", "padding")):
            rules.append(f".{prefix}-{i}{{{prop}:{size}}}")
            for side in ("top", "right", "bottom", "left"):
                rules.append(f".{prefix}{side[0]}-{i}{{{prop}-{side}:{size}}}")
            rules.append(f".{prefix}x-{i}{{{prop}-left:{size};{prop}-right:{size}}}")
            rules.append(f".{prefix}y-{i}{{{prop}-top:{size};{prop}-bottom:{size}}}")
    for name, hex_ in (("gray", "#6e7781"), ("red", "#cf222e"), ("green", "#1a7f37"),
                       ("blue", "#0969da"), ("amber", "#9a6700"), ("purple", "#8250df")):
        for shade in (100, 200, 300, 400, 500, 600, 700, 800, 900):
            rules.append(f".text-{name}-{shade}{{color:{hex_};opacity:{shade / 1000:.1f}}}")
            rules.append(f".bg-{name}-{shade}{{background-color:{hex_}{shade // 4:02x}}}")
    for bp in (640, 768, 1024, 1280):
        rules.append(f"@media (min-width:{bp}px){{.container{{max-width:{bp - 32}px}}"
                     f".grid-cols-{bp // 256}{{grid-template-columns:repeat({bp // 256},minmax(0,1fr))}}}}")
    return "\n".join(rules)


_HEAD_SCRIPTS = """<script>
(function(w,d){w.dataLayer=w.dataLayer||[];function gtag(){w.dataLayer.push(arguments)}
gtag('consent','default',{ad_storage:'denied',analytics_storage:'granted',wait_for_update:500});
var s=d.createElement('script');s.async=true;s.src='/static/js/analytics.js?v=3.14.2';
d.head.appendChild(s);w.__shopConfig={locale:'en',currencyDisplay:'symbol',cartUrl:'/cart',
searchUrl:'/search',lazyImages:true,abTests:{gridDensity:'b',stickyHeader:'a',badgeStyle:'round'}};
})(window,document);
</script>
<script>
window.addEventListener('DOMContentLoaded',function(){var forms=document.querySelectorAll('form.add-to-cart');
for(var i=0;i<forms.length;i++){forms[i].addEventListener('submit',function(e){e.preventDefault();
var f=e.currentTarget,b=f.querySelector('button');b.disabled=true;fetch(f.action,{method:'POST',
body:new FormData(f),credentials:'same-origin'}).then(function(r){return r.json()}).then(function(j){
document.querySelector('.cart-count').textContent=j.count;b.disabled=false}).catch(function(){
b.disabled=false})})}});
</script>
"""

_TAIL_SCRIPT = """<script>
(function(){if(!('IntersectionObserver' in window))return;var io=new IntersectionObserver(function(es){
es.forEach(function(e){if(e.isIntersecting){var img=e.target;if(img.dataset.src){img.src=img.dataset.src}
io.unobserve(img)}})},{rootMargin:'200px'});document.querySelectorAll('img[loading=lazy]').forEach(
function(img){io.observe(img)})})();
</script>
"""

_NAV = (
    '<nav class="categories" aria-label="Categories">\n<ul>\n'
    + "".join(f'<li><a href="/category/{_slug(c)}.html">{escape(c)}</a></li>\n' for c in _CATEGORIES)
    + "</ul>\n</nav>\n"
)

_HEADER = (
    '<header class="site-header px-4 py-2">\n'
    f'<a class="logo" href="/list/1.html">{SHOP_NAME}</a>\n'
    '<form class="search" action="/search" method="get" role="search">'
    '<input type="search" name="q" placeholder="Search products" aria-label="Search">'
    '<button type="submit">Search</button></form>\n'
    '<a class="cart" href="/cart">Cart (<span class="cart-count">0</span>)</a>\n'
    "</header>\n"
)

_FOOTER = (
    '<footer class="site-footer px-4 py-8">\n'
    '<div class="footer-links">'
    + "".join(f'<a href="/help/{_slug(t)}.html">{t}</a>\n' for t in (
        "Shipping", "Returns", "Payment options", "Size guide", "Gift cards", "Contact us",
        "About us", "Careers", "Press", "Sustainability", "Terms of service", "Privacy policy",
        "Cookie settings", "Imprint"))
    + '<a href="/private/account.html">My account</a>\n</div>\n'
    "<p class=\"legal\">Prices include VAT where applicable. This is a generated demo shop; "
    "no product is real and nothing can be bought.</p>\n"
    f"<p>&copy; {SHOP_NAME}</p>\n</footer>\n"
)

# The menu again as JSON, for client-side hydration, as single-page-app shops ship it.
_MENU_SCRIPT = (
    "<script>window.__menu="
    + json.dumps([
        {"id": 100 + i, "name": name, "slug": _slug(name), "url": f"/category/{_slug(name)}.html",
         "icon": f"/static/img/categories/{_slug(name)}.svg", "featured": i % 7 == 0}
        for i, name in enumerate(_CATEGORIES)
    ], ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    + ";</script>\n"
)

# Everything after <title>...</title> in <head>, and the page's fixed prelude; built once.
_HEAD_REST = (
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    f"<style>\n{_utility_css()}\n</style>\n"
    + _HEAD_SCRIPTS
    + _MENU_SCRIPT
    + "</head>\n"
)
_BODY_START = '<body class="listing">\n' + _SPRITE + _HEADER + _NAV


def _product_item(p: Product) -> str:
    """One grid cell: the contract ``div.product``, then the shop's own buttons and rating around it."""
    title = escape(p.title)
    availability = "In stock" if p.availability == IN_STOCK else "Out of stock"
    # Stable, varied decoration derived from the id; not part of the product data.
    stars = (int(p.id[-2:]) * 7 + p.page) % 5 + 1
    reviews = (int(p.id[1:]) * 31) % 997
    return (
        '<li class="grid-cell">\n'
        f'<div class="product" data-sku="{p.sku}">\n'
        f'  <a class="product-link" href="{p.path}"><h2 class="product-title">{title}</h2></a>\n'
        f'  <img class="product-image" src="{p.image_path}" alt="{title}">\n'
        f'  <span class="price">{p.display_price}</span>\n'
        f'  <span class="availability">{availability}</span>\n'
        "</div>\n"
        '<div class="product-actions mt-2">\n'
        f'<div class="rating" aria-label="{stars} out of 5 stars">'
        f'<span class="stars" aria-hidden="true">{"★" * stars}{"☆" * (5 - stars)}</span> '
        f'<span class="review-count">({reviews})</span></div>\n'
        '<form class="add-to-cart" action="/cart/add" method="post">'
        f'<input type="hidden" name="product_id" value="{p.id}">'
        '<input type="hidden" name="quantity" value="1">'
        '<input type="hidden" name="csrf" value="demo-shop-static-token">'
        f'<button type="submit" class="btn btn-primary px-3 py-1"{"" if p.availability == IN_STOCK else " disabled"}>'
        "Add to cart</button></form>\n"
        f'<a class="wishlist" href="/wishlist/add?product={p.id}" rel="nofollow">'
        '<svg class="icon" width="16" height="16"><use href="#icon-heart"/></svg> Save for later</a>\n'
        "</div>\n"
        "</li>\n"
    )


def _pagination(n: int, last: int) -> str:
    """Prev, numbered links around the current page plus first and last, and next."""
    parts = ['<nav class="pagination" aria-label="Pages">\n']
    if n > 1:
        parts.append(f'<a class="prev" rel="prev" href="/list/{n - 1}.html">Previous</a>\n')
    shown = sorted({1, last, *range(max(1, n - 2), min(last, n + 2) + 1)})
    previous = 0
    for k in shown:
        if k > previous + 1:
            parts.append('<span class="gap">…</span>\n')
        if k == n:
            parts.append(f'<span class="page current" aria-current="page">{k}</span>\n')
        else:
            parts.append(f'<a class="page" href="/list/{k}.html">{k}</a>\n')
        previous = k
    if n < last:
        parts.append(f'<a class="next" rel="next" href="/list/{n + 1}.html">Next</a>\n')
    parts.append("</nav>\n")
    return "".join(parts)


def render_listing(catalog: Catalog, n: int) -> bytes:
    """Listing page ``n`` as UTF-8 bytes; ``IndexError`` if the catalog has no such page."""
    products = catalog.page_products(n)
    ids = ",".join(f'"{p.id}"' for p in products)
    return "".join((
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f"<title>All products – page {n} of {catalog.pages} | {SHOP_NAME}</title>\n",
        f'<link rel="canonical" href="/list/{n}.html">\n',
        _HEAD_REST,
        _BODY_START,
        '<main class="container px-4">\n<h1>All products</h1>\n',
        f'<p class="result-count">{len(products)} products on page {n} of {catalog.pages}</p>\n',
        '<ul class="product-grid">\n',
        *map(_product_item, products),
        "</ul>\n",
        _pagination(n, catalog.pages),
        "</main>\n",
        _FOOTER,
        f"<script>window.dataLayer.push({{event:'view_item_list',page:{n},items:[{ids}]}});</script>\n",
        _TAIL_SCRIPT,
        "</body>\n</html>\n",
    )).encode()


def json_ld(p: Product, **more: object) -> str:
    """schema.org Product data (with ``more`` top-level properties), safe inside <script>: "</" cannot close the
    element early."""
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": p.title,
        "sku": p.sku,
        "image": p.image_path,
        "offers": {
            "@type": "Offer",
            "price": str(p.price),
            "priceCurrency": p.currency,
            "availability": f"https://schema.org/{p.availability}",
            "url": p.path,
        },
        **more,
    }
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def render_product(catalog: Catalog, product_id: str) -> bytes:
    """The detail page of one product; ``KeyError`` if there is no such product."""
    p = catalog.product(product_id)
    title = escape(p.title)
    availability = "In stock" if p.availability == IN_STOCK else "Out of stock"
    return "".join((
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f"<title>{title} | {SHOP_NAME}</title>\n",
        f'<link rel="canonical" href="{p.path}">\n',
        f'<script type="application/ld+json">{json_ld(p)}</script>\n',
        '</head>\n<body class="product-page">\n',
        _HEADER,
        f'<div class="product-detail" data-sku="{p.sku}">\n',
        f'  <h1 class="product-title">{title}</h1>\n',
        f'  <img class="product-image" src="{p.image_path}" alt="{title}">\n',
        f'  <span class="price">{p.display_price}</span>\n',
        f'  <span class="availability">{availability}</span>\n',
        f'  <span class="sku">SKU: {p.sku}</span>\n',
        "</div>\n",
        f'<a class="back" href="/list/{p.page}.html">Back to page {p.page}</a>\n',
        "</body>\n</html>\n",
    )).encode()
