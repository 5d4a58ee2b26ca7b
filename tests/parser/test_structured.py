"""Products from JSON-LD, microdata and OpenGraph, with no site rules."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from stages.parser.links import LinkResolver
from stages.parser.prices import Price
from stages.parser.structured import StructuredData, extract_structured

from . import FIXTURES


def structured(name: str, url: str) -> StructuredData:
    tree = LexborHTMLParser((FIXTURES / name).read_text(encoding="utf-8"))
    return extract_structured(tree, LinkResolver.for_page(tree, url))


def test_json_ld_graph_with_references_to_an_offer_node() -> None:
    found = structured("jsonld_graph.html", "https://roasters.example/products/cafe-grinder")
    (product,) = found.json_ld
    assert product.title == "Café Grinder Pro"  # entity decoded, whitespace collapsed
    assert product.price == Price(amount="149.00", currency="EUR", raw="149.00", ok=True)
    assert product.sku == "88123"  # a JSON number
    assert product.image == "https://roasters.example/media/grinder-front.jpg"  # an ImageObject
    assert product.availability == "InStock"
    assert product.url is None  # the page URL is extract_page's business
    assert found.errors == 0


def test_json_ld_item_list_repairs_what_it_can_and_counts_the_rest() -> None:
    found = structured("jsonld_itemlist.html", "https://lights.example/lamps")
    arc, desk, pendant = found.json_ld
    assert (arc.title, arc.url, arc.sku) == ("Arc Floor Lamp", "https://lights.example/lamps/arc", "L-1")
    assert arc.image == "https://lights.example/img/arc-1.jpg"
    # The first offer has no price; the second has, as a JSON number.
    assert (arc.price.amount, arc.price.currency, arc.availability) == ("89.9", "GBP", "OutOfStock")
    assert (desk.price.amount, desk.price.currency) == ("24", "GBP")  # from a priceSpecification
    # Wrapped in an HTML comment, with a raw tab and trailing commas: repaired.
    assert (pendant.title, pendant.price.amount) == ("Pendant Lamp", "59.50")
    assert found.errors == 1  # the block missing a comma; the empty block is no error


def test_json_ld_aggregate_offer_type_lists_and_product_group_variants() -> None:
    found = structured("jsonld_aggregate.html", "https://runfast.example/c/shoes")
    runner, small, large = found.json_ld
    assert (runner.title, runner.sku, runner.price.amount, runner.price.currency) == (
        "Trail Runner 3", "TR3", "79.95", "USD")  # lowPrice of the AggregateOffer
    assert (small.sku, small.price.amount, small.availability) == ("CS-S", "9.50", "InStock")
    assert (large.sku, large.price.amount, large.price.currency) == ("CS-L", "10", "USD")
    assert small.url == "https://runfast.example/p/club-sock?size=s"


def test_microdata_keeps_nested_scopes_apart() -> None:
    found = structured("microdata.html", "https://werkzeug.example/liste")
    drill, bench = found.microdata
    assert drill.title == "Akkuschrauber 18 V"  # not the brand's itemprop="name"
    assert drill.price == Price(amount="129.90", currency="EUR", raw="129.90", ok=True)  # content wins over text
    assert (drill.sku, drill.availability) == ("AS-18", "InStock")
    assert drill.url == "https://werkzeug.example/werkzeug/akkuschrauber-18v"
    assert drill.image == "https://werkzeug.example/bilder/akku.jpg"
    assert bench.title == "Werkbank Eiche"
    assert (bench.price.amount, bench.price.currency) == ("1299.00", "EUR")  # visible text, German format
    assert (bench.sku, bench.availability) == ("WB-2", "OutOfStock")
    assert found.json_ld == [] and found.opengraph == []


def test_opengraph_product_tags() -> None:
    found = structured("opengraph.html", "https://threads.example/shirts/linen-sand?ref=x")
    (shirt,) = found.opengraph
    assert shirt.title == "Linen Shirt – Sand"  # the first og:title, not the later duplicate
    assert shirt.price == Price(amount="1299", currency="JPY", raw="1299", ok=True)
    assert shirt.url == "https://threads.example/shirts/linen-sand"
    assert shirt.image == "https://threads.example/images/linen-sand.jpg"
    assert (shirt.sku, shirt.availability, shirt.method) == ("LS-SAND", "InStock", "opengraph")


def test_opengraph_on_a_page_that_is_not_a_product_yields_nothing() -> None:
    assert structured("opengraph_article.html", "https://threads.example/blog/fold").opengraph == []


def test_deeply_nested_or_hostile_json_ld_is_an_error_not_a_crash() -> None:
    deep = "[" * 5000 + "]" * 5000
    html = f'<script type="application/ld+json">{deep}</script><script type="application/ld+json">{{</script>'
    tree = LexborHTMLParser(html)
    found = extract_structured(tree, LinkResolver.for_page(tree, "https://x.example/"))
    assert found.errors == 2 and found.json_ld == []
