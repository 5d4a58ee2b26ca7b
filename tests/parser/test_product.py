"""Merging descriptions of one product from ranked sources."""

from __future__ import annotations

from stages.parser.prices import NO_PRICE, Price
from stages.parser.product import ExtractedProduct, merge_products


def product(method: str, url: str | None = None, sku: str | None = None, title: str | None = None,
            price: Price = NO_PRICE, image: str | None = None) -> ExtractedProduct:
    return ExtractedProduct(title=title, price=price, url=url, image=image, sku=sku, availability=None,
                            method=method)


def test_a_single_source_is_returned_as_it_is_duplicates_included() -> None:
    same = product("rules", url="https://s.example/p/1")
    assert merge_products([[same, same], [], []]) == [same, same]


def test_earlier_sources_win_and_later_ones_fill_gaps() -> None:
    rules = product("rules", url="https://s.example/p/1?a=1&b=2", title="From rules",
                    price=Price(amount="10", currency=None, raw="10", ok=True))
    json_ld = product("json-ld", url="https://s.example/p/1?b=2&a=1", sku="S1", title="From JSON-LD",
                      price=Price(amount="10", currency="EUR", raw="10", ok=True), image="https://s.example/i.jpg")
    (merged,) = merge_products([[rules], [json_ld]])
    assert (merged.title, merged.method, merged.sku, merged.image) == (
        "From rules", "rules", "S1", "https://s.example/i.jpg")
    assert merged.price == Price(amount="10", currency="EUR", raw="10", ok=True)


def test_a_different_amount_does_not_lend_its_currency() -> None:
    rules = product("rules", sku="S1", price=Price(amount="10", currency=None, raw="10", ok=True))
    other = product("microdata", sku="S1", price=Price(amount="12", currency="EUR", raw="12", ok=True))
    assert merge_products([[rules], [other]])[0].price.currency is None


def test_an_unparsed_price_is_replaced_by_a_parsed_one() -> None:
    rules = product("rules", sku="S1", price=Price(amount=None, currency=None, raw="Call", ok=False))
    other = product("opengraph", sku="S1", price=Price(amount="5", currency="GBP", raw="5", ok=True))
    assert merge_products([[rules], [other]])[0].price.amount == "5"


def test_a_match_by_sku_learned_from_an_earlier_merge() -> None:
    rules = product("rules", url="https://s.example/p/1")
    json_ld = product("json-ld", url="https://s.example/p/1", sku="S1")
    microdata = product("microdata", sku="S1", title="Only microdata knows")
    (merged,) = merge_products([[rules], [json_ld], [microdata]])
    assert (merged.sku, merged.title) == ("S1", "Only microdata knows")


def test_unmatched_products_are_added_in_rank_order() -> None:
    a = product("rules", url="https://s.example/a")
    b = product("json-ld", url="https://s.example/b")
    c = product("microdata", sku="C")
    assert merge_products([[a], [b], [c]]) == [a, b, c]
