"""The variants of one product (sizes, colours) described as several Product nodes become one product.

Shops describe a product with variants as a ProductGroup with ``hasVariant``,
or as one Product node per variant, each with its own SKU and price. A
person, and the sink, see one product: its price is the lowest variant price
(what the page shows as "from" or as the preselected variant), it is in stock
if any variant is. Variants with URLs of their own are products of their own
(a listing of them, or links the site gives each variant) and stay apart.
Several ungrouped Products without URLs are variants when their names share
most of their beginning ("Tee - S", "Tee - M").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from .ids import canonical_url
from .product import ExtractedProduct

# Share of the shorter name that ungrouped variants' names must have in common.
_COMMON_NAME_SHARE = 0.6


class Variant(NamedTuple):
    """A product node and the group (ProductGroup id or name) it belongs to, if any."""

    product: ExtractedProduct
    group: str | None
    group_title: str | None
    group_url: str | None


def one_per_product(variants: list[Variant]) -> list[ExtractedProduct]:
    """The products of one block, with each product's variants merged into one; order kept."""
    if len(variants) < 2:
        return [variant.product for variant in variants]
    groups: dict[str, list[Variant]] = {}
    for variant in variants:
        if variant.group is not None and _shares_url(variant):
            groups.setdefault(variant.group, []).append(variant)
    loose = [v for v in variants if (v.group is None or not _shares_url(v)) and v.product.url is None]
    if len(loose) > 1 and _similar_names([v.product.title for v in loose]):
        groups["\x00loose"] = loose
    merged: list[ExtractedProduct] = []
    done: set[int] = set()
    for variant in variants:
        members = next((g for g in groups.values() if variant in g and len(g) > 1), None)
        if members is None:
            merged.append(variant.product)
        elif id(members) not in done:
            done.add(id(members))
            merged.append(_merged(members))
    return merged


def _shares_url(variant: Variant) -> bool:
    url = variant.product.url
    return url is None or (variant.group_url is not None and canonical_url(url) == canonical_url(variant.group_url))


def _similar_names(names: Iterable[str | None]) -> bool:
    present = [name for name in names if name]
    if not present:
        return True
    common = os.path.commonprefix(present)
    return len(common) >= _COMMON_NAME_SHARE * min(map(len, present))


def _merged(members: list[Variant]) -> ExtractedProduct:
    products = [member.product for member in members]
    priced = [p for p in products if p.price.ok]
    cheapest = min(priced, key=lambda p: float(p.price.amount or 0)) if priced else products[0]
    names = [p.title for p in products if p.title]
    title = members[0].group_title or (_common_words(names) if names else None)
    stock = {p.availability for p in products}
    return cheapest._replace(
        title=title or cheapest.title,
        url=members[0].group_url or cheapest.url,
        sku=None,
        availability="InStock" if "InStock" in stock else cheapest.availability,
    )


def _common_words(names: list[str]) -> str:
    """The words the names begin with ("Tee - S", "Tee - M": "Tee"), without a trailing separator."""
    common = os.path.commonprefix(names)
    if any(len(name) > len(common) and name[len(common)].isalnum() for name in names):
        common = common[:max(common.rfind(" "), 0)]
    return common.rstrip(" -–—/|,(:")
