"""Rendered pages: stable bytes, realistic size, and the markup contract the parser rules target."""

from __future__ import annotations

import json
from html import escape
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import pytest
from selectolax.lexbor import LexborHTMLParser

from stages.demoshop.catalog import IN_STOCK, Catalog, Product
from stages.demoshop.pages import ROBOTS_TXT, render_listing, render_product

BASE = "http://127.0.0.1:8080"
KIB = 1024


def contract_markup(p: Product) -> str:
    """The product markup exactly as the package docstring promises it."""
    title = escape(p.title)
    return (
        f'<div class="product" data-sku="{p.sku}">\n'
        f'  <a class="product-link" href="/product/{p.id}.html"><h2 class="product-title">{title}</h2></a>\n'
        f'  <img class="product-image" src="/img/{p.id}.jpg" alt="{title}">\n'
        f'  <span class="price">{p.display_price}</span>\n'
        f'  <span class="availability">{"In stock" if p.availability == IN_STOCK else "Out of stock"}</span>\n'
        "</div>\n"
    )


def test_rendering_is_deterministic() -> None:
    assert render_listing(Catalog(9), 4) == render_listing(Catalog(9, seed=7), 4)
    assert render_listing(Catalog(9), 4) != render_listing(Catalog(9, seed=8), 4)
    assert render_product(Catalog(9), "p00000401") == render_product(Catalog(9), "p00000401")


def test_listing_pages_weigh_40_to_80_kib() -> None:
    catalog = Catalog(20_000)
    pages = range(1, 20_001, 53)  # a spread sample; the full 20,000 are measured by write_site
    sizes = {n: len(render_listing(catalog, n)) for n in pages}
    assert min(sizes.values()) >= 40 * KIB, min(sizes.items(), key=lambda kv: kv[1])
    assert max(sizes.values()) <= 80 * KIB, max(sizes.items(), key=lambda kv: kv[1])
    counts = {len(catalog.page_products(n)) for n in pages}
    assert {24, 48} <= counts, "the sample includes the smallest and largest pages"


def test_every_product_appears_in_the_exact_contract_markup() -> None:
    catalog = Catalog(6)
    for n in range(1, 7):
        html = render_listing(catalog, n).decode()
        for p in catalog.page_products(n):
            assert contract_markup(p) in html


def test_selectors_find_every_expected_product_in_order() -> None:
    catalog = Catalog(6)
    expected = catalog.expected_products(BASE)
    found = []
    for page_url, n in zip(catalog.listing_urls(BASE), range(1, 7), strict=False):
        tree = LexborHTMLParser(render_listing(catalog, n))
        for node in tree.css("div.product"):
            found.append({
                "url": urljoin(page_url, node.css_first("a.product-link").attributes["href"]),
                "title": node.css_first("h2.product-title").text(),
                "image": urljoin(page_url, node.css_first("img.product-image").attributes["src"]),
                "sku": node.attributes["data-sku"],
                "display_price": node.css_first("span.price").text(),
                "availability": node.css_first("span.availability").text(),
                "page": page_url,
            })
    products = [p for n in range(1, 7) for p in catalog.page_products(n)]
    assert len(found) == len(expected) == len(products)
    for got, want, product in zip(found, expected, products, strict=False):
        assert {k: got[k] for k in ("url", "title", "image", "sku", "page")} == \
            {k: want[k] for k in ("url", "title", "image", "sku", "page")}
        assert got["display_price"] == product.display_price
        assert got["availability"] == ("In stock" if want["availability"] == IN_STOCK else "Out of stock")


def test_titles_are_escaped_and_survive_parsing() -> None:
    catalog = Catalog(10)
    tricky = [(n, p) for n in range(1, 11) for p in catalog.page_products(n) if set(p.title) & set("&\">")]
    assert tricky, "the vocabulary includes &, quotes and >"
    n, product = tricky[0]
    html = render_listing(catalog, n)
    assert escape(product.title).encode() in html
    assert f">{product.title}<".encode() not in html
    titles = [node.text() for node in LexborHTMLParser(html).css("h2.product-title")]
    assert product.title in titles


@pytest.mark.parametrize(("n", "prev", "next_"), [(1, False, True), (2, True, True), (5, True, False)])
def test_pagination_links(n: int, prev: bool, next_: bool) -> None:
    tree = LexborHTMLParser(render_listing(Catalog(5), n))
    next_link = tree.css_first('a.next[rel="next"]')
    prev_link = tree.css_first('a.prev[rel="prev"]')
    assert (next_link is not None) == next_
    assert (prev_link is not None) == prev
    if next_link is not None:
        assert next_link.attributes["href"] == f"/list/{n + 1}.html" and next_link.text() == "Next"
    if prev_link is not None:
        assert prev_link.attributes["href"] == f"/list/{n - 1}.html"
    numbered = {a.attributes["href"] for a in tree.css("nav.pagination a.page")}
    assert "/list/1.html" in numbered or n == 1
    assert "/list/5.html" in numbered or n == 5


def test_listing_page_looks_like_a_real_shop_page() -> None:
    html = render_listing(Catalog(3), 2)
    assert html.startswith(b"<!DOCTYPE html>")
    tree = LexborHTMLParser(html)
    assert tree.css_first('head meta[charset="utf-8"]') is not None
    assert "page 2 of 3" in tree.css_first("head title").text()
    assert len([s for s in tree.css("script") if s.text().strip()]) >= 3
    assert tree.css_first("head style") is not None
    assert len(tree.css("nav.categories a")) == 50
    assert tree.css_first("footer") is not None


def test_product_page_has_detail_and_json_ld() -> None:
    catalog = Catalog(3)
    product = catalog.page_products(2)[5]
    tree = LexborHTMLParser(render_product(catalog, product.id))
    detail = tree.css_first("div.product-detail")
    assert detail.attributes["data-sku"] == product.sku
    assert detail.css_first(".product-title").text() == product.title
    assert detail.css_first("span.price").text() == product.display_price
    data = json.loads(tree.css_first('script[type="application/ld+json"]').text())
    assert data["@type"] == "Product" and data["name"] == product.title and data["sku"] == product.sku
    assert data["offers"]["price"] == str(product.price)
    assert data["offers"]["priceCurrency"] == product.currency
    with pytest.raises(KeyError):
        render_product(catalog, "p00000999")


def test_robots_txt_disallows_only_private() -> None:
    robots = RobotFileParser()
    robots.parse(ROBOTS_TXT.decode().splitlines())
    assert robots.can_fetch("crawlpipe", f"{BASE}/list/1.html")
    assert robots.can_fetch("crawlpipe", f"{BASE}/product/p00000100.html")
    assert not robots.can_fetch("crawlpipe", f"{BASE}/private/account.html")
