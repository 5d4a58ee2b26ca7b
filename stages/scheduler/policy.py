"""How a product's recrawl interval adapts: shorter after a change, longer while nothing changes.

The interval is multiplied by ``recrawl_shorten_factor`` when the price or the
availability differs from the last visit's, by ``recrawl_lengthen_factor``
when not, and always clamped to the site's bounds: the rules file's
``recrawl_min_interval`` / ``recrawl_max_interval`` for the site, else the
scheduler's own defaults. Pure logic: no I/O, no clock.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from stages.parser.rules import RuleSet, load_rules
from stages.scheduler.settings import SchedulerConfig

# Sites looked up by host when the product's site names no rule: bounded, hosts are many.
_HOST_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Bounds:
    """A site's shortest and longest interval between two visits of a product, in seconds."""

    shortest: float
    longest: float

    def clamp(self, seconds: float) -> float:
        return min(self.longest, max(self.shortest, seconds))


class Policy:
    """The interval rules of one scheduler: its settings and, where given, the rules file's per-site bounds."""

    def __init__(self, config: SchedulerConfig, rules: RuleSet | None = None) -> None:
        self._config = config
        self._default = Bounds(config.recrawl_min_interval_seconds, config.recrawl_max_interval_seconds)
        self._by_name = {site.name: self._site_bounds(site.recrawl_min_interval, site.recrawl_max_interval)
                         for site in (rules.sites if rules else ())}
        self._rules = rules
        self._by_host = functools.lru_cache(maxsize=_HOST_CACHE_SIZE)(self._host_bounds)

    @classmethod
    def of(cls, config: SchedulerConfig) -> Policy:
        return cls(config, load_rules(config.recrawl_rules) if config.recrawl_rules else None)

    @property
    def max_misses(self) -> int:
        return self._config.max_misses

    def bounds(self, site: str, host: str) -> Bounds:
        """The bounds of the rule named ``site``, else of the rule matching ``host``, else the defaults."""
        named = self._by_name.get(site)
        return named if named is not None else self._by_host(host)

    def first(self, bounds: Bounds) -> float:
        return bounds.clamp(self._config.recrawl_initial_interval_seconds)

    def next(self, interval: float, bounds: Bounds, *, changed: bool) -> float:
        factor = self._config.recrawl_shorten_factor if changed else self._config.recrawl_lengthen_factor
        return bounds.clamp(interval * factor)

    def _host_bounds(self, host: str) -> Bounds:
        site = self._rules.for_host(host) if self._rules else None
        return self._by_name[site.name] if site else self._default

    def _site_bounds(self, shortest: float | None, longest: float | None) -> Bounds:
        """A site that sets one bound keeps the other's default, moved where needed so that low <= high."""
        low = min(self._default.shortest, longest) if shortest is None and longest is not None else shortest
        high = max(self._default.longest, shortest) if longest is None and shortest is not None else longest
        return Bounds(self._default.shortest if low is None else low, self._default.longest if high is None else high)


def changed(price: str | None, availability: str | None, before_price: str | None,
            before_availability: str | None) -> bool:
    """Whether a visit saw another price (compared as decimals: 10.0 is 10.00) or availability than the last."""
    return availability != before_availability or _decimal(price) != _decimal(before_price)


def _decimal(price: str | None) -> Decimal | str | None:
    if price is None:
        return None
    try:
        return Decimal(price)
    except InvalidOperation:
        return price
