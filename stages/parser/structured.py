"""Products from the structured data pages carry for search engines, with no site rules.

JSON-LD (``jsonld``), microdata (``microdata``) and OpenGraph (``opengraph``)
sources are all found with one selector query and dispatched by tag, so a
page that has none of them costs one tree walk.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from .jsonld import json_ld_products
from .links import LinkResolver
from .microdata import is_product_scope, microdata_product
from .opengraph import opengraph_products
from .product import ExtractedProduct

_SOURCES = (
    'script[type*="ld+json" i], [itemscope][itemtype], '
    'meta[property^="og:" i], meta[property^="product:" i], meta[name^="og:" i], meta[name^="product:" i]'
)


@dataclass(frozen=True, slots=True)
class StructuredData:
    """Products found per vocabulary, and how many JSON-LD blocks were broken beyond repair."""

    json_ld: list[ExtractedProduct]
    microdata: list[ExtractedProduct]
    opengraph: list[ExtractedProduct]
    errors: int


def extract_structured(tree: LexborHTMLParser, links: LinkResolver) -> StructuredData:
    """Find JSON-LD, microdata and OpenGraph products in a parsed page; URLs resolve with `links`."""
    json_ld: list[ExtractedProduct] = []
    microdata: list[ExtractedProduct] = []
    tags: dict[str, str] = {}
    errors = 0
    for node in tree.css(_SOURCES):
        tag = node.tag
        if tag == "script":
            try:
                json_ld.extend(json_ld_products(node.text(), links))
            except ValueError:  # json.JSONDecodeError included
                errors += 1
        elif tag == "meta":
            key = (node.attrs.get("property") or node.attrs.get("name") or "").strip().lower()
            content = node.attrs.get("content")
            if content is not None:
                tags.setdefault(key, content)
        elif is_product_scope(node):
            microdata.append(microdata_product(node, links))
    return StructuredData(json_ld=json_ld, microdata=microdata, opengraph=opengraph_products(tags, links),
                         errors=errors)
