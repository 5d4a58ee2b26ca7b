"""Reading a site's field selectors for every item of a page, with few selector queries.

selectolax 1.0 cannot keep a compiled selector: each ``css``/``css_first``
call parses its query again, and with a ``css_first`` per field per item
(~200 on a listing page) those calls were the parser's largest cost after
building the tree. So each field is queried once over the whole page as
"item field", and every match is given to its nearest enclosing item: the
first match in an item, in document order, is what ``css_first`` inside
that item would return.

Where that shortcut could answer differently, a field is read item by item
instead: selector lists (a comma could split a list or sit in a quoted
value), items nested in items, and any field whose page-wide query does not
agree with ``css_first`` on the first item (lexbor matches nothing for some
selectors in that position, e.g. ``:is(div.product) h2``).
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .rules import FieldSpec


def read_field(
    tree: LexborHTMLParser, item_css: str, items: list[LexborNode], spec: FieldSpec | None, *, item_by_item: bool
) -> list[str | None]:
    """The value ``spec`` points at in each of ``items``; ``item_by_item`` forces the per-item reading."""
    if spec is None:
        return [None] * len(items)
    if spec.css is None:
        return [_value(item, spec.attr) for item in items]
    if item_by_item or "," in spec.css:
        return [_value(item.css_first(spec.css), spec.attr) for item in items]
    found = _first_match_per_item(tree, f"{item_css} {spec.css}", items)
    if _mem_id(found[0]) != _mem_id(items[0].css_first(spec.css)):
        return [_value(item.css_first(spec.css), spec.attr) for item in items]
    return [_value(node, spec.attr) for node in found]


def needs_item_by_item(tree: LexborHTMLParser, item_css: str) -> bool:
    """Whether the page-wide shortcut is unsafe for every field of this page."""
    return "," in item_css or tree.css_first(f"{item_css} {item_css}") is not None


def _first_match_per_item(tree: LexborHTMLParser, query: str, items: list[LexborNode]) -> list[LexborNode | None]:
    position = {item.mem_id: index for index, item in enumerate(items)}
    found: list[LexborNode | None] = [None] * len(items)
    for node in tree.css(query):
        parent = node.parent
        while parent is not None and (index := position.get(parent.mem_id)) is None:
            parent = parent.parent
        if parent is not None and found[index] is None:
            found[index] = node
    return found


def _mem_id(node: LexborNode | None) -> int | None:
    return None if node is None else node.mem_id


def _value(node: LexborNode | None, attr: str | None) -> str | None:
    """The node's attribute or text, whitespace-collapsed; None if absent or empty.

    Text is the element's textContent (text nodes joined without separators),
    so a price split over spans ("<span>$</span>12<sup>.99</sup>") stays whole.
    """
    if node is None:
        return None
    value = node.attrs.get(attr) if attr is not None else node.text()
    if not value:
        return None
    return " ".join(value.split()) or None
