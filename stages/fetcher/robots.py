"""robots.txt (RFC 9309): fetched once per origin, cached, and obeyed.

Rules are kept per (scheme, host, port) in a bounded LRU with a TTL.
Concurrent requests to a host whose rules are not cached wait on one shared
download instead of each fetching robots.txt. What the download yields
decides the rules:

- 2xx: parse it (protego);
- 4xx (but 429), or a redirect chain that loops, runs too long or leaves
  http(s): there are no rules, everything is allowed (RFC 9309 2.3.1.2-3);
- 429, 5xx, or the host is unreachable: everything is disallowed for
  ``robots_error_ttl_seconds``, as a retriable error (RFC 9309 2.3.1.4), so
  the URL is retried later instead of being crawled without permission.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from protego import Protego
from yarl import URL

from stages.core.errors import BadMessage, CrawlpipeError
from stages.fetcher.errors import (
    BAD_URL,
    DNS,
    REDIRECT_LOOP,
    ROBOTS_DISALLOWED,
    ROBOTS_UNAVAILABLE,
    THROTTLED,
    TOO_MANY_REDIRECTS,
    RetriableFetchError,
)
from stages.fetcher.settings import FetchConfig


@dataclass(frozen=True, slots=True)
class RobotsResponse:
    """The final answer to a robots.txt request, after redirects."""

    status: int
    body: bytes


RobotsDownloader = Callable[[URL], Awaitable[RobotsResponse]]
"""Fetches a robots.txt URL; raises crawlpipe errors for transport failures."""

_Origin = tuple[str, str, int | None]

# RFC 9309 2.3.1.2: a robots.txt that cannot be reached through its redirects
# counts as unavailable (4xx-like), i.e. everything is allowed.
_REDIRECT_TROUBLE = frozenset({TOO_MANY_REDIRECTS, REDIRECT_LOOP, BAD_URL})


@dataclass(frozen=True, slots=True)
class _Rules:
    expires_at: float
    parser: Protego | None  # None: no robots.txt, everything allowed
    crawl_delay_seconds: float | None = None
    unavailable_reason: str | None = None  # set: everything disallowed until expiry
    unavailable_class: str = ROBOTS_UNAVAILABLE  # dns when the host's name did not resolve


class RobotsCache:
    """Answers "may this URL be fetched?" from cached robots.txt rules."""

    def __init__(
        self, download: RobotsDownloader, config: FetchConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._download = download
        self._config = config
        self._clock = clock
        self._rules: OrderedDict[_Origin, _Rules] = OrderedDict()
        self._loading: dict[_Origin, asyncio.Task[_Rules]] = {}

    def __len__(self) -> int:
        """Origins with cached rules."""
        return len(self._rules)

    async def check(self, url: URL) -> float | None:
        """Return the origin's Crawl-delay if ``url`` may be fetched; raise if it may not.

        Raises ``BadMessage("robots_disallowed")`` when the rules forbid the
        URL, and ``RetriableFetchError("robots_unavailable")`` while the
        origin's robots.txt cannot be read.
        """
        rules = await self._available_rules(url)
        if rules.parser is not None and not rules.parser.can_fetch(str(url), self._config.user_agent):
            raise BadMessage(f"{url}: disallowed by robots.txt", error_class=ROBOTS_DISALLOWED)
        return rules.crawl_delay_seconds

    async def sitemaps(self, url: URL) -> list[str]:
        """The ``Sitemap:`` lines of the robots.txt of ``url``'s origin, from the cached rules (docs/discovery.md).

        Raises like ``check`` while the origin's robots.txt cannot be read.
        """
        rules = await self._available_rules(url)
        return list(rules.parser.sitemaps) if rules.parser is not None else []

    async def _available_rules(self, url: URL) -> _Rules:
        """The origin's rules, loaded if need be; raise ``robots_unavailable`` while they cannot be read."""
        origin: _Origin = (url.scheme, url.raw_host or "", url.explicit_port)
        rules = self._rules.get(origin)
        if rules is None or rules.expires_at <= self._clock():
            rules = await self._load_shared(origin, url)
        else:
            self._rules.move_to_end(origin)
        if rules.unavailable_reason is not None:
            raise RetriableFetchError(
                f"{url}: robots.txt unavailable ({rules.unavailable_reason}); the host is "
                "treated as disallowed until it can be read (RFC 9309)",
                error_class=rules.unavailable_class,
                retry_after_seconds=max(0.0, rules.expires_at - self._clock()),
            )
        return rules

    async def close(self) -> None:
        """Cancel downloads still in flight, so none outlives the session it uses."""
        loading = list(self._loading.values())
        for task in loading:
            task.cancel()
        # Outcomes already reached their waiters (or the waiters were cancelled too).
        await asyncio.gather(*loading, return_exceptions=True)

    async def _load_shared(self, origin: _Origin, url: URL) -> _Rules:
        task = self._loading.get(origin)
        if task is None:
            task = asyncio.create_task(self._load(origin, url.origin().with_path("/robots.txt")))
            self._loading[origin] = task
            task.add_done_callback(partial(self._loaded, origin))
        # Shielded: one waiter giving up must not cancel the download the
        # other waiters share.
        return await asyncio.shield(task)

    def _loaded(self, origin: _Origin, task: asyncio.Task[_Rules]) -> None:
        del self._loading[origin]
        if not task.cancelled():
            # Every waiter re-raises a failure itself; marking it retrieved only
            # stops asyncio's "never retrieved" warning if all of them gave up.
            task.exception()

    async def _load(self, origin: _Origin, robots_url: URL) -> _Rules:
        now = self._clock()
        try:
            response = await self._download(robots_url)
        except CrawlpipeError as exc:
            if exc.error_class in _REDIRECT_TROUBLE:
                rules = _Rules(now + self._config.robots_ttl_seconds, None)
            elif exc.retriable and exc.error_class != THROTTLED:
                rules = self._unavailable(now, f"{exc.error_class}: {exc}", exc.error_class)
            else:
                # Blocked address, TLS failure …: the page itself would fail the
                # same way. Throttled is our own pacing, not the host's answer.
                raise
        else:
            rules = self._interpret(now, response)
        self._store(origin, rules)
        return rules

    def _interpret(self, now: float, response: RobotsResponse) -> _Rules:
        status = response.status
        if 200 <= status < 300:
            parser = Protego.parse(response.body.decode("utf-8", errors="replace"))
            delay = parser.crawl_delay(self._config.user_agent)
            return _Rules(now + self._config.robots_ttl_seconds, parser, delay)
        if status == 429 or status >= 500:
            return self._unavailable(now, f"HTTP {status}")
        return _Rules(now + self._config.robots_ttl_seconds, None)

    def _unavailable(self, now: float, reason: str, cause: str | None = None) -> _Rules:
        """Everything disallowed for a while; a URL refused for it says ``dns`` if that was the cause."""
        return _Rules(now + self._config.robots_error_ttl_seconds, None, unavailable_reason=reason,
                      unavailable_class=DNS if cause == DNS else ROBOTS_UNAVAILABLE)

    def _store(self, origin: _Origin, rules: _Rules) -> None:
        self._rules[origin] = rules
        self._rules.move_to_end(origin)
        while len(self._rules) > self._config.robots_cache_size:
            self._rules.popitem(last=False)
