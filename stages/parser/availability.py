"""Normalise stock information to "InStock", "OutOfStock" or None (unknown).

Sources disagree on form: schema.org gives ItemAvailability URLs
("https://schema.org/InStock"), OpenGraph gives "instock" / "in stock", and
shop markup gives free text in the shop's language ("Only 3 left",
"Ausverkauft"). Records keep just the two states a price watcher acts on;
schema.org's other values are folded into them where the meaning is clear
(LimitedAvailability is in stock, SoldOut and Discontinued are not) and left
unknown where it is not (PreOrder, BackOrder).
"""

from __future__ import annotations

import re
from functools import lru_cache

_SCHEMA_VALUES = {
    "instock": "InStock",
    "limitedavailability": "InStock",
    "onlineonly": "InStock",
    "instoreonly": "InStock",
    "outofstock": "OutOfStock",
    "soldout": "OutOfStock",
    "discontinued": "OutOfStock",
    "preorder": None,
    "presale": None,
    "backorder": None,
}

# Negative phrases are tried first: "not available" contains "available".
_OUT_OF_STOCK = re.compile(
    r"out of stock|sold out|unavailable|not available|no stock|discontinued|"
    r"ausverkauft|nicht (?:verfügbar|lieferbar)|épuisé|rupture de stock|agotado|esaurito|"
    r"niedostępny|нет в наличии|slutsåld|udsolgt|uitverkocht|vyprodáno|esgotado|indisponível|在庫切れ|"
    r"売り切れ|nicht lieferbar|non disponibile|brak w magazynie",
    re.IGNORECASE,
)
_IN_STOCK = re.compile(
    r"in stock|available|\d+ left|add to (?:cart|basket|bag)|ships? (?:today|in)|"
    r"auf lager|lieferbar|verfügbar|en stock|disponible|disponibile|dostępny|в наличии|i lager|på lager|"
    r"op voorraad|skladem|em estoque|在庫あり",
    re.IGNORECASE,
)


@lru_cache(maxsize=1024)
def normalise_availability(value: str | None) -> str | None:
    """Map a schema.org value or shop text to "InStock", "OutOfStock" or None.

    Cached: a site repeats a handful of phrases on every page, and the phrase
    patterns cost microseconds per call.
    """
    if not value:
        return None
    text = value.strip()
    key = text.rsplit("/", 1)[-1].replace("_", "").replace(" ", "").lower()
    if key in _SCHEMA_VALUES:
        return _SCHEMA_VALUES[key]
    if _OUT_OF_STOCK.search(text):
        return "OutOfStock"
    if _IN_STOCK.search(text):
        return "InStock"
    return None
