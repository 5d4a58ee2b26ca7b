"""The visible-page extractor: what it takes for the price, and what it refuses."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from stages.parser.links import LinkResolver
from stages.parser.locale_currency import currency_hint
from stages.parser.product import ExtractedProduct
from stages.parser.visible import visible_product


def read(main: str, *, lang: str = "en", url: str = "https://shop.example/p/1", head: str = "",
         title: str = "Lamp | Shop") -> ExtractedProduct | None:
    tree = LexborHTMLParser(f'<html lang="{lang}"><head><title>{title}</title>{head}</head><body>{main}</body></html>')
    return visible_product(tree, LinkResolver.for_page(tree, url)).product


def priced(prices: str, *, lang: str = "en", url: str = "https://shop.example/p/1") -> ExtractedProduct:
    product = read(f'<h1>Lamp</h1><div class="price-box">{prices}</div><button class="add-to-cart">Add to cart</button>',
                   lang=lang, url=url)
    assert product is not None
    return product


@pytest.mark.parametrize("prices", [
    "<del>$40.00</del> <span>$29.99</span>",
    '<span style="text-decoration: line-through">$40.00</span> <span>$29.99</span>',
    '<span class="price--old">$40.00</span> <span class="price--sale">$29.99</span>',
    "<span>Was: <span>$40.00</span></span> <span>$29.99</span>",
])
def test_struck_and_was_prices_are_the_regular_price_not_the_price(prices: str) -> None:
    product = priced(prices)
    assert (product.price.amount, product.regular_price.amount) == ("29.99", "40.00")


@pytest.mark.parametrize("distraction", [
    "<span>$2.50 / oz</span>", "<span>($2.50 per kg)</span>", "<p>or 4 x $7.50</p>", "<span>+ $4.99</span>",
])
def test_unit_instalment_and_added_prices_are_rejected(distraction: str) -> None:
    assert priced(f"{distraction}<span>$29.99</span>{distraction}").price.amount == "29.99"


def test_prices_of_related_products_and_the_header_are_ignored() -> None:
    product = read('<header><a class="cart">Cart $0.00</a></header><h1>Lamp</h1><p>Lovely.</p>'
                   '<span class="amount">$15</span><button name="add">Buy now</button>'
                   '<section class="related-products"><div class="card">Bulb <b class="price">$3</b></div></section>')
    assert product is not None and product.price.amount == "15"


@pytest.mark.parametrize(("prices", "lang", "url", "amount", "currency"), [
    ("<span>1 234 kr</span>", "sv-SE", "https://butik.example/p", "1234", "SEK"),
    ("<span>1.234,00 kr.</span>", "da", "https://butik.example/p", "1234.00", "DKK"),
    ("<span>12,800円</span>", "ja", "https://shop.example/p", "12800", "JPY"),
    ("<span>$1,299.00</span>", "en", "https://shop.example.ca/p", "1299.00", "CAD"),
    ("<span>CHF 1'234.50</span>", "de-CH", "https://shop.example/p", "1234.50", "CHF"),
    ("<span>R$ 1.234,56</span>", "pt-BR", "https://loja.example/p", "1234.56", "BRL"),
    ("<span>2\u00a0499,50 zł</span>", "pl", "https://sklep.example/p", "2499.50", "PLN"),
    ("<span>EUR 19,90</span>", "nl", "https://winkel.example/p", "19.90", "EUR"),
])
def test_amounts_and_currencies_in_many_markets(prices: str, lang: str, url: str, amount: str, currency: str) -> None:
    product = priced(prices, lang=lang, url=url)
    assert (product.price.amount, product.price.currency) == (amount, currency)


def test_availability_from_a_disabled_buy_button_and_from_stock_words() -> None:
    disabled = read('<h1>Lamp</h1><span class="price">$9</span><button name="add" disabled>Add to cart</button>')
    worded = read('<h1>Lamp</h1><span class="price">9 €</span><p class="stock-info">Ausverkauft</p>', lang="de")
    linked = read('<h1>Lamp</h1><span class="price">9 €</span><link itemprop="availability" '
                  'href="https://schema.org/OutOfStock"><button name="add">Buy</button>')
    assert disabled is not None and worded is not None and linked is not None
    assert (disabled.availability, worded.availability, linked.availability) == ("OutOfStock",) * 3


def test_title_falls_back_to_the_document_title_without_the_shop_name() -> None:
    product = read('<h1>Shop</h1><h2>Desk Lamp</h2><b>$20</b><a class="button" href="/cart?add=1">Add to cart</a>',
                   title="Desk Lamp | Shop")
    assert product is not None and product.title == "Desk Lamp"
    assert dict(product.sources)["title"].startswith("h2")


def test_labelled_sku_gtin_mpn_brand_and_main_image() -> None:
    product = read('<h1>Lamp</h1><span class="price">$9</span><table><tr><th>Item #</th><td>LX-204</td></tr>'
                   '<tr><th>EAN</th><td>4006381333931</td></tr><tr><th>MPN</th><td>L-204-B</td></tr></table>'
                   '<p>Brand: <a href="/b/lumio">Lumio</a></p>', head='<meta property="og:image" content="/img/lamp.jpg">')
    assert product is not None
    assert (product.sku, product.gtin, product.mpn, product.brand) == ("LX-204", "4006381333931", "L-204-B", "Lumio")
    assert (product.image, dict(product.sources)["gtin"]) == ("https://shop.example/img/lamp.jpg", 'label "EAN"')


def test_a_page_without_a_price_near_a_title_is_no_product() -> None:
    assert read("<h1>About us</h1><p>Founded in 1999. Free shipping over $50 on all orders in the country.</p>") is None
    assert read('<h1>Lamp</h1><p class="price">Price on request</p>') is None


def test_currency_hint_prefers_the_language_region_then_the_domain_then_the_language() -> None:
    assert currency_hint("en-GB", "shop.example.com") == "GBP"
    assert currency_hint("en", "shop.example.com.au") == "AUD"
    assert currency_hint("sv", "shop.example.com") == "SEK"
    assert currency_hint("en", "shop.example.com") is None


def test_superscript_cents_are_cents() -> None:
    assert priced('<span class="price">$19<sup>99</sup></span>').price.amount == "19.99"


def test_a_listing_without_markup_is_no_product() -> None:
    cards = "".join(f'<div class="item"><a href="/p/{n}">Lamp {n}</a><span class="price">${n}9.00</span>'
                    f'<button class="add-to-cart">Add to cart</button></div>' for n in range(1, 7))
    assert read(f"<h1>Lamps</h1>{cards}") is None
    assert read("<h1>Lamps</h1>" + cards.replace('<button class="add-to-cart">Add to cart</button>', "")) is None


def test_a_product_page_whose_related_cards_have_buy_buttons_is_still_a_product() -> None:
    cards = "".join(f'<div class="related-item"><a href="/p/{n}">Bulb {n}</a><span>${n}.00</span>'
                    f'<button class="add-to-cart">Add to cart</button></div>' for n in range(1, 5))
    product = read('<h1>Lamp</h1><div class="product-price"><span>$49.00</span></div>'
                   f'<button name="add">Add to cart</button><section class="related">{cards}</section>')
    assert product is not None and product.price.amount == "49.00"


def test_a_capitalised_word_before_a_number_is_no_currency() -> None:
    assert priced("<span>NEW 2026 $29.99</span>").price == priced("<span>$29.99</span>").price
