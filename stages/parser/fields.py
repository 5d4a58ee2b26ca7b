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


class ItemFields:
    """The items one selector finds on a page, and the value each field selector points at in each."""

    def __init__(self, tree: LexborHTMLParser, item_css: str, items: list[LexborNode]) -> None:
        self._tree = tree
        self._item_css = item_css
        self._items = items
        # The page-wide shortcut is unsafe for every field of this page.
        self._item_by_item = "," in item_css or tree.css_first(f"{item_css} {item_css}") is not None
        self._position = {item.mem_id: index for index, item in enumerate(items)}

    def read(self, spec: FieldSpec | None) -> list[str | None]:
        """The value ``spec`` points at in each item, in item order."""
        items = self._items
        if spec is None:
            return [None] * len(items)
        if spec.css is None:
            return [_value(item, spec.attr) for item in items]
        if self._item_by_item or "," in spec.css:
            return [_value(item.css_first(spec.css), spec.attr) for item in items]
        found = self._first_match_per_item(f"{self._item_css} {spec.css}")
        if _mem_id(found[0]) != _mem_id(items[0].css_first(spec.css)):
            return [_value(item.css_first(spec.css), spec.attr) for item in items]
        return [_value(node, spec.attr) for node in found]

    def _first_match_per_item(self, query: str) -> list[LexborNode | None]:
        position = self._position
        found: list[LexborNode | None] = [None] * len(self._items)
        for node in self._tree.css(query):
            parent = node.parent
            while parent is not None and (index := position.get(parent.mem_id)) is None:
                parent = parent.parent
            if parent is not None and index is not None and found[index] is None:
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
