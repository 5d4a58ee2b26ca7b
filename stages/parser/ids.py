"""Canonical URLs and stable product ids.

The product id is the ``crawl.products`` key and the sink's upsert key, so it
must not change between crawls, replays or parser versions: it hashes only the
site name and either the site's SKU or the canonical product URL.
"""

from __future__ import annotations

import re
from hashlib import blake2b

from w3lib.url import canonicalize_url

# URLs that w3lib would return unchanged: lower-case http(s) scheme and host,
# only unreserved characters, no dot segments, no fragment, and a query of
# name=value pairs (checked for order below). Most product and pagination links
# look like this, and canonicalize_url costs tens of microseconds per call, a
# noticeable share of a page's budget with 40 products and their links.
# tests/parser/test_ids.py checks the shortcut against w3lib.
_ALREADY_CANONICAL = re.compile(
    r"https?://(?!.*xn--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"(?::[1-9][0-9]{0,4})?"
    r"(?:/(?!\.\.?(?:/|\?|$))[A-Za-z0-9._~-]*)+"
    r"(?:\?(?P<query>[A-Za-z0-9._~-]+=[A-Za-z0-9._~-]*(?:&[A-Za-z0-9._~-]+=[A-Za-z0-9._~-]*)*))?"
)

_ID_HEX_CHARS = 24


def canonical_url(url: str) -> str:
    """Return the URL with w3lib's canonical form (sorted query, normalised escapes), without the fragment."""
    simple = _ALREADY_CANONICAL.fullmatch(url)
    if simple is not None:
        query = simple["query"]
        if query is None:
            return url
        pairs = [pair.partition("=") for pair in query.split("&")]
        if pairs == sorted(pairs):
            return url
    return canonicalize_url(url, keep_fragments=False)


def product_id(site: str, url: str, sku: str | None) -> str:
    """Return a stable id: "s" + hash of (site, SKU) when the SKU is known, else "u" + hash of (site, canonical URL).

    The one-letter kind prefix means an SKU can never collide with a URL that
    happens to hash the same; the 24 hex characters (96 bits) make a collision
    within one site's products negligible.
    """
    sku = sku.strip() if sku else None
    if sku:
        kind, value = "s", sku
    else:
        kind, value = "u", canonical_url(url)
    digest = blake2b(f"{site}\x1f{value}".encode(), digest_size=_ID_HEX_CHARS // 2).hexdigest()
    return kind + digest
