"""A demo catalogue that changes while the shop runs: products removed, prices that move on every visit.

Why: a recrawl schedule and discontinued products can only be tested against
a shop whose products change between two visits, in a way the test knows in
advance. ``LiveCatalog`` is a ``Catalog`` with two changes on top:

- ``remove(id)`` takes a product off the shop: its page answers 410 and it
  vanishes from listings and sitemaps; ``restore(id)`` brings it back.
- with ``volatile_every=N``, every product whose number (the digits of its id)
  is a multiple of N is volatile: each time it is rendered (listing, product
  page) its price is drawn anew, from ``random.Random(f"{seed}:{id}:{visit}")``,
  within 20 % of its catalogue price, so a test knows which products change
  and the prices stay believable.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from decimal import Decimal

from stages.demoshop.catalog import PRICE_STYLES, Catalog, PriceStyle, Product

# How far a volatile price moves from the catalogue price, either way.
_VOLATILITY = 0.2


class LiveCatalog(Catalog):
    """A ``Catalog`` whose products can be removed, and whose volatile products change price per visit."""

    def __init__(self, pages: int, seed: int = 7, *, volatile_every: int = 0) -> None:
        super().__init__(pages, seed)
        if volatile_every < 0:
            raise ValueError(f"volatile_every must be 0 (off) or positive, got {volatile_every!r}")
        self.volatile_every = volatile_every
        self._removed: set[str] = set()
        self._visits: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"LiveCatalog(pages={self.pages}, seed={self.seed}, volatile_every={self.volatile_every})"

    def remove(self, product_id: str) -> None:
        """Take the product off the shop (``KeyError`` if there is no such product)."""
        super().product(product_id)
        self._removed.add(product_id)

    def restore(self, product_id: str) -> None:
        """Put a removed product back, as it was."""
        self._removed.discard(product_id)

    def is_removed(self, product_id: str) -> bool:
        return product_id in self._removed

    def is_volatile(self, product_id: str) -> bool:
        return self.volatile_every > 0 and int(product_id[1:]) % self.volatile_every == 0

    def visits(self, product_id: str) -> int:
        """How many times a volatile product has been rendered (each render drew a new price)."""
        return self._visits[product_id]

    def page_products(self, n: int) -> tuple[Product, ...]:
        return tuple(self._live(p) for p in super().page_products(n) if p.id not in self._removed)

    def product(self, product_id: str) -> Product:
        if product_id in self._removed:
            raise KeyError(product_id)
        return self._live(super().product(product_id))

    def _live(self, product: Product) -> Product:
        if not self.is_volatile(product.id):
            return product
        self._visits[product.id] += 1
        rng = random.Random(f"{self.seed}:{product.id}:{self._visits[product.id]}")
        style = _style_of(product)
        factor = Decimal(str(round(1 + _VOLATILITY * (2 * rng.random() - 1), 3)))
        price = (product.price * factor).quantize(Decimal(1).scaleb(-style.decimals))
        return replace(product, price=price, display_price=style.display(price))


def _style_of(product: Product) -> PriceStyle:
    """The style the product was drawn with: the one that displays its price as the page shows it."""
    return next(style for style in PRICE_STYLES
                if style.currency == product.currency and style.display(product.price) == product.display_price)
