"""Without rules, a product page gives one record: markup and the visible page merged, with the price rule."""

from __future__ import annotations

import orjson

from stages.parser.extract import ExtractedProduct, extract_page

URL = "https://shop.example/p/kettle"
SHOP = '<header><a href="/">Shop</a><a href="/cart">Cart</a></header>'


def json_ld(price: str, **extra: object) -> str:
    data = {"@type": "Product", "name": "Kettle", "sku": "K-1",
            "offers": {"@type": "Offer", "price": price, "priceCurrency": "EUR"}, **extra}
    return f'<script type="application/ld+json">{orjson.dumps(data).decode()}</script>'


def extract(head: str, main: str, related: str = "") -> list[ExtractedProduct]:
    page = (f'<html lang="de"><head><title>Kettle | Shop</title>{head}</head><body>{SHOP}<main>{main}</main>'
            f'{related}<footer>Versandkostenfrei ab 50 €</footer></body></html>').encode()
    return extract_page(page, url=URL, header_charset="utf-8", rules=None, with_links=False).products


def buy_box(prices: str) -> str:
    return f'<h1>Kettle</h1><div class="product-price">{prices}</div><button name="add">In den Warenkorb</button>'


def test_json_ld_microdata_and_opengraph_of_one_page_are_one_record() -> None:
    head = (json_ld("19.90", url=URL + "?variant=7") + '<meta property="og:type" content="product">'
            f'<meta property="og:url" content="{URL}"><meta property="og:image" content="https://shop.example/k.jpg">')
    micro = ('<div itemscope itemtype="https://schema.org/Product"><meta itemprop="name" content="Kettle">'
             '<meta itemprop="gtin13" content="4006381333931"></div>')
    (product,) = extract(head, micro + buy_box("<span>19,90 €</span>"))
    assert (product.method, product.price.amount, product.image) == ("json-ld", "19.90", "https://shop.example/k.jpg")


def test_sale_beats_regular_when_markup_carries_the_struck_price() -> None:
    (product,) = extract(json_ld("30.00"), buy_box("<s>30,00 €</s> <strong>24,00 €</strong>"))
    assert (product.price.amount, product.price.currency, product.regular_price.amount) == ("24.00", "EUR", "30.00")
    assert dict(product.sources)["price"].startswith("visible sale price")


def test_visible_price_wins_when_the_page_does_not_show_the_markup_price() -> None:
    (product,) = extract(json_ld("99.00"), buy_box("<span>89,00 €</span>"))
    assert product.price.amount == "89.00" and product.method == "json-ld"


def test_markup_price_stays_when_the_page_shows_it() -> None:
    # A range: the visible scorer may prefer either bound, but the markup's low price is on the page.
    (product,) = extract(json_ld("10.00"), buy_box("<span>10,00 €</span> – <span>20,00 €</span>"))
    assert product.price.amount == "10.00"


def test_markup_without_a_price_takes_the_visible_one() -> None:
    head = '<meta property="og:type" content="product"><meta property="og:title" content="Kettle">'
    (product,) = extract(head, buy_box("<span>1.249,00 €</span>"))
    assert (product.price.amount, product.price.currency, product.method) == ("1249.00", "EUR", "opengraph")


def test_a_page_without_markup_gives_the_visible_product_and_says_how() -> None:
    related = '<section class="related"><div class="card"><a href="/p/cup">Cup</a><span>5,00 €</span></div></section>'
    (product,) = extract("", buy_box('<span class="price">49,00 €</span>') + "<p>Artikelnummer: KT-100</p>", related)
    assert (product.title, product.price.amount, product.sku, product.url) == ("Kettle", "49.00", "KT-100", URL)
    assert (product.method, product.availability) == ("visible", "InStock")
    assert {"title", "price", "availability", "sku"} <= set(dict(product.sources))


def test_a_page_with_no_product_gives_no_record() -> None:
    assert extract("", "<h1>Versand</h1><p>Wir liefern ab 50 € versandkostenfrei.</p>") == []


def test_a_listing_gives_one_record_per_listed_product_and_no_visible_one() -> None:
    cards = "".join(
        f'<div itemscope itemtype="https://schema.org/Product"><a itemprop="url" href="/p/{n}">'
        f'<span itemprop="name">P{n}</span></a><span itemprop="price" content="{n}.00">{n},00 €</span></div>'
        for n in (1, 2, 3))
    found = extract("", "<h1>Kettles</h1>" + cards)
    assert [(p.title, p.price.amount, p.method) for p in found] == [
        ("P1", "1.00", "microdata"), ("P2", "2.00", "microdata"), ("P3", "3.00", "microdata")]
