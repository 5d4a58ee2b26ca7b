"""Reading a field once per page gives what ``css_first`` inside each item gives."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import render_listing
from stages.parser.fields import ItemFields
from stages.parser.rules import FieldSpec

GRID = """
<ul class="grid">
  <li class="p"><h2>One</h2><span class="price">$1</span><a href="/1">x</a></li>
  <li class="p"><h2>Two</h2><a href="/2">x</a></li>
  <li class="p ad"><span class="price">$3</span></li>
  <li class="p"><h2> Four
      again </h2><span class="price"><b>$</b>4</span><span class="price">$44</span><a href="/4">x</a></li>
</ul>
<h2>Outside</h2><span class="price">$0</span>
"""

NESTED = """
<div class="p"><div class="p"><h2>Inner</h2></div><h2>Outer</h2></div>
<div class="p"><h2>Third</h2></div>
"""


def per_item(html: str, item_css: str, spec: FieldSpec) -> list[str | None]:
    """The definition: ``css_first`` inside each item (or the item itself), whitespace collapsed."""
    tree = LexborHTMLParser(html)
    nodes = [item.css_first(spec.css) if spec.css else item for item in tree.css(item_css)]
    values = [None if node is None else node.attrs.get(spec.attr) if spec.attr else node.text() for node in nodes]
    return [" ".join(value.split()) or None if value else None for value in values]


def page_wide(html: str, item_css: str, spec: FieldSpec) -> list[str | None]:
    tree = LexborHTMLParser(html)
    return ItemFields(tree, item_css, tree.css(item_css)).read(spec)


@pytest.mark.parametrize("item_css", ["li.p", "ul.grid > li", ":is(li.p)", "li.p:not(.missing)", "li.p, li.ad"])
@pytest.mark.parametrize("spec", [
    FieldSpec("h2", None), FieldSpec("span.price", None), FieldSpec("a", "href"), FieldSpec("h2, a", None),
    FieldSpec(None, "class"), FieldSpec("em", None),
])
def test_page_wide_reading_agrees_with_css_first_in_each_item(item_css: str, spec: FieldSpec) -> None:
    assert page_wide(GRID, item_css, spec) == per_item(GRID, item_css, spec)


def test_fields_missing_from_some_items_stay_with_their_own_items() -> None:
    assert page_wide(GRID, "li.p", FieldSpec("h2", None)) == ["One", "Two", None, "Four again"]
    assert page_wide(GRID, "li.p", FieldSpec("span.price", None)) == ["$1", None, "$3", "$4"]


def test_nested_items_are_read_item_by_item() -> None:
    assert page_wide(NESTED, "div.p", FieldSpec("h2", None)) == ["Inner", "Inner", "Third"]


@pytest.mark.parametrize("item_css", [":is(div.product)", ":where(div.product)", ":is(div, span).product"])
def test_item_selectors_lexbor_cannot_compose_fall_back_to_item_by_item(item_css: str) -> None:
    # On the shop's pages lexbor matches these items, but nothing for "<item> h2.product-title".
    html = render_listing(Catalog(pages=2), 1).decode()
    titles = page_wide(html, item_css, FieldSpec("h2.product-title", None))
    assert titles == per_item(html, item_css, FieldSpec("h2.product-title", None))
    assert len(titles) > 20 and all(titles)
