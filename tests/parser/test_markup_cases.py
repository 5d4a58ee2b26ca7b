"""Structured data as real shops write it: case, nesting, wrappers, specifications and variants."""

from __future__ import annotations

import orjson
import pytest

from stages.parser.extract import ExtractedProduct, extract_page
from stages.parser.prices import Price

URL = "https://shop.example/p/kettle"


def json_ld(data: object, *, wrapper: tuple[str, str] = ("", "")) -> str:
    return f'<script type="application/ld+json">{wrapper[0]}{orjson.dumps(data).decode()}{wrapper[1]}</script>'


def products(head: str, body: str = "") -> list[ExtractedProduct]:
    page = f"<html><head>{head}</head><body>{body}</body></html>".encode()
    return extract_page(page, url=URL, header_charset="utf-8", rules=None, with_links=False).products


def only(head: str, body: str = "") -> ExtractedProduct:
    (product,) = products(head, body)
    return product


def test_lower_case_types_and_keys() -> None:
    product = only(json_ld({"@type": "product", "Name": "Kettle", "SKU": "K-1",
                            "offers": {"@type": "offer", "PRICE": "19.90", "pricecurrency": "EUR"}}))
    assert (product.title, product.sku, product.price.amount, product.price.currency) == (
        "Kettle", "K-1", "19.90", "EUR")


def test_type_with_a_vocabulary_prefix_in_a_list() -> None:
    product = only(json_ld({"@type": ["schema:Product", "Thing"], "name": "Kettle", "offers": {"price": 5}}))
    assert product.price.amount == "5"


@pytest.mark.parametrize("wrapper", [("/*<![CDATA[*/", "/*]]>*/"), ("//<![CDATA[\n", "\n//]]>"),
                                     ("<![CDATA[", "]]>"), ("<!--", "-->")])
def test_cdata_and_comment_wrappers(wrapper: tuple[str, str]) -> None:
    product = only(json_ld({"@type": "Product", "name": "Kettle", "offers": {"price": "7.50"}}, wrapper=wrapper))
    assert product.price.amount == "7.50"


def test_an_offer_nested_in_an_offer() -> None:
    offers = {"@type": "Offer", "seller": {"@type": "Organization", "name": "X"},
              "offers": {"@type": "Offer", "price": "12.00", "priceCurrency": "GBP", "availability": "OutOfStock"}}
    product = only(json_ld({"@type": "Product", "name": "Kettle", "offers": offers}))
    assert (product.price.amount, product.price.currency, product.availability) == ("12.00", "GBP", "OutOfStock")


def test_graph_with_a_product_among_other_nodes() -> None:
    graph = {"@graph": [{"@type": "WebPage", "name": "Page"}, {"@type": "Organization", "name": "Shop"},
                        {"@type": "Product", "name": "Kettle", "offers": {"price": "3"}}]}
    assert only(json_ld(graph)).title == "Kettle"


def test_price_specification_list_separates_current_and_list_price() -> None:
    specification = [
        {"@type": "UnitPriceSpecification", "priceType": "https://schema.org/ListPrice", "price": "40.00",
         "priceCurrency": "EUR"},
        {"@type": "UnitPriceSpecification", "price": "29.99", "priceCurrency": "EUR"},
    ]
    product = only(json_ld({"@type": "Product", "name": "Kettle",
                            "offers": {"@type": "Offer", "priceSpecification": specification}}))
    assert product.price == Price(amount="29.99", currency="EUR", raw="29.99", ok=True)
    assert product.regular_price.amount == "40.00"


@pytest.mark.parametrize("key", ["lowPrice", "lowprice", "LOWPRICE"])
def test_aggregate_offer_low_price_in_any_case(key: str) -> None:
    offers = {"@type": "AggregateOffer", key: "9.00", "highPrice": "30.00", "priceCurrency": "USD"}
    assert only(json_ld({"@type": "Product", "name": "Kettle", "offers": offers})).price.amount == "9.00"


def test_product_group_variants_without_urls_are_one_product() -> None:
    variants = [{"@type": "Product", "name": f"Tee - {size}", "sku": f"T-{size}",
                 "offers": {"price": price, "priceCurrency": "EUR", "availability": stock}}
                for size, price, stock in [("S", "25", "OutOfStock"), ("M", "20", "OutOfStock"), ("L", "22", "InStock")]]
    product = only(json_ld({"@type": "ProductGroup", "name": "Tee", "productGroupID": "T", "url": URL,
                            "hasVariant": variants}))
    assert (product.title, product.price.amount, product.availability, product.url) == ("Tee", "20", "InStock", URL)


def test_several_product_nodes_for_the_variants_of_one_product_are_one_product() -> None:
    nodes = [{"@type": "Product", "name": f"Trail Shoe - {size}", "sku": f"TS-{size}", "offers": {"price": price}}
             for size, price in [("42", "99"), ("43", "89")]]
    product = only(json_ld(nodes))
    assert (product.title, product.price.amount, product.sku) == ("Trail Shoe", "89", None)


def test_unrelated_products_without_urls_are_not_merged_as_variants() -> None:
    nodes = [{"@type": "Product", "name": name, "sku": sku, "offers": {"price": "1"}}
             for name, sku in [("Kettle", "K"), ("Toaster", "T")]]
    assert [p.sku for p in products(json_ld(nodes))] == ["K", "T"]


def test_microdata_with_upper_case_itemprops() -> None:
    body = ('<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="Name">Kettle</h1>'
            '<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
            '<meta itemprop="PriceCurrency" content="EUR"><span itemprop="Price" content="15.00">15 €</span></div></div>')
    product = only("", body)
    assert (product.title, product.price.amount, product.price.currency) == ("Kettle", "15.00", "EUR")


def test_microdata_product_without_url_is_not_dropped_when_opengraph_has_one() -> None:
    head = ('<meta property="og:type" content="product"><meta property="og:title" content="Kettle | Shop">'
            f'<meta property="og:url" content="{URL}"><meta property="og:image" content="https://shop.example/k.jpg">')
    body = ('<div itemscope itemtype="http://schema.org/Product"><h1 itemprop="name">Kettle</h1>'
            '<div itemprop="offers" itemscope itemtype="http://schema.org/Offer">'
            '<span itemprop="price">24,90 €</span></div></div>')
    product = only(head, body)
    assert (product.title, product.price.amount, product.price.currency) == ("Kettle", "24.90", "EUR")
    assert (product.url, product.image, product.method) == (URL, "https://shop.example/k.jpg", "microdata")


def test_brand_gtin_mpn_bounded_description_and_all_images() -> None:
    product = only(json_ld({"@type": "Product", "name": "Kettle", "brand": {"@type": "Brand", "name": "Acme"},
                            "gtin13": "4006381333931", "mpn": "AC-1", "description": "word " * 400,
                            "image": ["/a.jpg", {"@type": "ImageObject", "url": "/b.jpg"}, "/a.jpg"],
                            "offers": {"price": "5"}}))
    assert (product.brand, product.gtin, product.mpn) == ("Acme", "4006381333931", "AC-1")
    assert product.description is not None and len(product.description) <= 1001
    assert product.description.endswith("…")
    assert product.images == ("https://shop.example/a.jpg", "https://shop.example/b.jpg")
    assert product.image == "https://shop.example/a.jpg"
