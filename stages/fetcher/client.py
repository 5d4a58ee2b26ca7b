"""The HTTP engine: fetch one URL safely, politely and fast.

``HttpFetcher`` owns the process's one ``aiohttp.ClientSession`` and its
connection pool. For each hop of a fetch (the URL, then each redirect) it:

1. validates the URL and refuses IP-literal hosts the SSRF guard forbids
   (named hosts are judged by the guarded resolver when a socket opens);
2. checks robots.txt, downloading it once per origin through this session;
3. waits for a slot and the pacing delay of the host (``politeness.py``),
   inside the caller's ``waiting`` hook if it has to wait; a URL known to be
   slow first waits for one of the host's slow places (``slowlane.py``);
4. sends the request with connect and read timeouts, inside what is left of
   the fetch's total network budget; a page request that turns slow while
   the host's slow places are taken is cut (``slow_request``);
5. judges the answer: a redirect becomes the next hop (loops and overlong
   chains refused); 429/5xx become retriable errors carrying Retry-After;
   other failures final errors; non-HTML refused unless configured;
6. streams and decodes the body under the raw and decoded byte caps.

Failures are raised as crawlpipe errors (``errors.py``) with a stable
``error_class``; the stage decides between retrying and the DLQ.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from time import perf_counter
from types import TracebackType
from typing import Any

import aiohttp
from protego import Protego
from yarl import URL

from stages.core.errors import BadMessage
from stages.core.urls import normalize_url
from stages.fetcher.addresses import AddressPolicy, GuardedResolver
from stages.fetcher.body import BodyLimits, LargeBodyGate, read_body
from stages.fetcher.errors import (
    BAD_URL,
    CONNECTION,
    REDIRECT_LOOP,
    SLOW_REQUEST,
    THROTTLED,
    TIMEOUT,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    UNSUPPORTED_CONTENT_TYPE,
    FinalHttpStatus,
    RetriableFetchError,
    RetriableHttpStatus,
    translate_transport_errors,
)
from stages.fetcher.politeness import HostThrottle, Waiting, parse_retry_after
from stages.fetcher.robots import RobotsCache, RobotsResponse
from stages.fetcher.settings import FetchConfig
from stages.fetcher.slowlane import SlowLane, Watch

log = logging.getLogger("crawlpipe.fetcher")

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
_ACCEPT_ENCODING = "gzip, deflate, br"
# CPython before 3.12.8 (and 3.13.0) leaks aborted SSL transports unless
# aiohttp cleans them up; later versions fixed it and aiohttp warns if asked.
_CLEANUP_CLOSED_SSL = sys.version_info < (3, 12, 8) or (3, 13, 0) <= sys.version_info < (3, 13, 1)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A successfully fetched page, body exactly as received after content-decoding."""

    url: str
    """The URL as requested, after normalisation."""
    final_url: str
    """Where the body came from, after redirects."""
    status: int
    content_type: str
    """The media type, lowercased, without parameters."""
    charset: str | None
    """The charset the Content-Type header declared, unverified; None if it declared none."""
    body: bytes
    redirects: tuple[str, ...]
    """Every URL that answered with a redirect, in order; empty if the first answer was final."""
    timings: dict[str, float]
    """Seconds spent in: wait (robots and throttle), connect_and_headers, body, total."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    content_type: str
    charset: str | None
    body: bytes
    location: str | None  # set when the answer is a redirect to follow


def _warn_userinfo(url: str) -> None:
    log.warning("credentials stripped from a URL or redirect, never sent: %s", url)


def _is_retriable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


class HttpFetcher:
    """Fetches pages over one shared session; use as ``async with HttpFetcher(config) as f``."""

    def __init__(self, config: FetchConfig, *, trace_configs: Sequence[aiohttp.TraceConfig] = ()) -> None:
        self._config = config
        self._trace_configs = list(trace_configs)
        self._policy = AddressPolicy(config.allowed_networks)
        self._throttle = HostThrottle(config)
        self._slow_lane = SlowLane(min(config.max_slow_requests_per_host, config.max_connections_per_host),
                                   config.slow_request_seconds)
        self._robots = RobotsCache(self._download_robots, config) if config.obey_robots else None
        self._page_limits = BodyLimits(
            config.max_body_bytes,
            config.max_decompressed_bytes,
            gate=LargeBodyGate(config.large_body_threshold_bytes, asyncio.Semaphore(config.max_large_bodies)),
        )
        self._robots_limits = BodyLimits(config.robots_max_bytes, config.robots_max_bytes, truncate=True)
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    @property
    def throttle(self) -> HostThrottle:
        """The per-host throttle, for callers that schedule around busy hosts."""
        return self._throttle

    def booked_turn(self, host: str, *, slow: bool = False) -> float:
        """Seconds from now at which one more URL of ``host`` (in its slow lane if ``slow``) should come back."""
        return self._slow_lane.book(host) if slow else self._throttle.reserve(host)

    def _send_pacing(self) -> aiohttp.TraceConfig:
        """Pace each request again once its connection is ready, right before it is written (``before_send``)."""
        async def ready(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
            await self._throttle.before_send(context.trace_request_ctx["host"])

        pacing = aiohttp.TraceConfig()
        pacing.on_connection_reuseconn.append(ready)
        pacing.on_connection_create_end.append(ready)
        return pacing

    async def __aenter__(self) -> HttpFetcher:
        config = self._config
        self._resolver = GuardedResolver(self._policy)
        connector = aiohttp.TCPConnector(
            limit=config.max_connections,
            limit_per_host=config.max_connections_per_host,
            resolver=self._resolver,
            use_dns_cache=True,
            ttl_dns_cache=config.dns_ttl_seconds,  # type: ignore[arg-type]  # used as float
            dns_cache_max_size=config.dns_cache_size,
            enable_cleanup_closed=_CLEANUP_CLOSED_SSL,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,  # the fetch's own budget covers all hops; see _exchange
                sock_connect=config.connect_timeout_seconds,
                sock_read=config.read_timeout_seconds,
            ),
            auto_decompress=False,  # decoded by body.py, under a cap
            cookie_jar=aiohttp.DummyCookieJar(),  # a jar for every crawled host would grow for ever
            headers={
                "User-Agent": config.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": _ACCEPT_ENCODING,
            },
            trust_env=False,  # no proxy from the environment: it would bypass the SSRF guard
            trace_configs=[self._send_pacing(), *self._trace_configs],
        )
        # aiohttp silently sends an idempotent request again when a kept-alive
        # connection drops it: a second request per attempt that no politeness
        # limit, retry count or metric sees. Its own test client turns this off
        # the same way; there is no public switch (tests/fetcher/test_client.py
        # counts the requests a resetting server receives).
        self._session._retry_connection = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._robots is not None:
            await self._robots.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def fetch(self, url: str, waiting: Waiting | None = None, *, slow: bool = False,
                    any_type: bool = False) -> FetchedPage:
        """Fetch ``url``, following redirects; raise a crawlpipe error with an ``error_class`` on failure.

        ``any_type`` keeps a body of any Content-Type (a sitemap: XML or gzip), under the same caps.

        ``waiting(host)`` surrounds every wait for a host's slot or pacing (see ``HostThrottle.slot``).
        ``slow`` sends the URL through its host's slow lane, where it is never cut; without it a
        request that turns slow while the lane is full raises ``slow_request``.
        """
        started = perf_counter()
        timings = {"wait": 0.0, "connect_and_headers": 0.0, "body": 0.0}
        requested = target = URL(normalize_url(url, on_userinfo=_warn_userinfo), encoded=True)
        redirected: list[str] = []
        while True:
            host = target.raw_host or ""
            self._policy.check_host(host)
            if self._robots is not None:
                asked = perf_counter()
                self._throttle.set_crawl_delay(host, await self._robots.check(target))
                timings["wait"] += perf_counter() - asked
            answer = await self._exchange(
                target, self._page_limits, timings, budget_seconds=self._config.total_timeout_seconds, page=True,
                waiting=waiting, slow=slow, any_type=any_type,
            )
            if answer.location is None:
                break
            redirected.append(str(target))
            target = self._next_hop(target, answer.location, redirected)
        timings["total"] = perf_counter() - started
        return FetchedPage(
            url=str(requested),
            final_url=str(target),
            status=answer.status,
            content_type=answer.content_type,
            charset=answer.charset,
            body=answer.body,
            redirects=tuple(redirected),
            timings=timings,
        )

    async def sitemaps(self, url: str) -> list[str]:
        """The ``Sitemap:`` lines of the robots.txt of ``url``'s origin (read even when robots.txt is not obeyed)."""
        target = URL(normalize_url(url, on_userinfo=_warn_userinfo), encoded=True)
        self._policy.check_host(target.raw_host or "")
        if self._robots is not None:
            return await self._robots.sitemaps(target)
        answer = await self._download_robots(target.origin().with_path("/robots.txt"))
        if not 200 <= answer.status < 300:
            return []
        return list(Protego.parse(answer.body.decode("utf-8", errors="replace")).sitemaps)

    async def _download_robots(self, robots_url: URL) -> RobotsResponse:
        """robots.txt through the same guard, throttle and session, with its own caps."""
        timings = {"wait": 0.0, "connect_and_headers": 0.0, "body": 0.0}
        target = robots_url
        redirected: list[str] = []
        while True:
            self._policy.check_host(target.raw_host or "")
            answer = await self._exchange(
                target,
                self._robots_limits,
                timings,
                budget_seconds=self._config.robots_timeout_seconds,
                page=False,
            )
            if answer.location is None:
                return RobotsResponse(answer.status, answer.body)
            redirected.append(str(target))
            target = self._next_hop(target, answer.location, redirected)

    def _next_hop(self, current: URL, location: str, redirected: list[str]) -> URL:
        try:
            joined = str(current.join(URL(location)))
        except ValueError as exc:
            raise BadMessage(
                f"{current}: redirect to a malformed Location {location[:200]!r}", error_class=BAD_URL
            ) from exc
        try:
            following = URL(normalize_url(joined, on_userinfo=_warn_userinfo), encoded=True)
        except BadMessage as exc:
            raise BadMessage(f"{current}: redirect refused: {exc}", error_class=exc.error_class) from exc
        if str(following) in redirected:
            raise BadMessage(
                f"{redirected[0]}: redirect loop back to {following} after {len(redirected)} hops",
                error_class=REDIRECT_LOOP,
            )
        if len(redirected) > self._config.max_redirects:
            raise BadMessage(
                f"{redirected[0]}: more than max_redirects={self._config.max_redirects} redirects",
                error_class=TOO_MANY_REDIRECTS,
            )
        return following

    async def _exchange(
        self,
        target: URL,
        limits: BodyLimits,
        timings: dict[str, float],
        *,
        budget_seconds: float,
        page: bool,
        waiting: Waiting | None = None,
        slow: bool = False,
        any_type: bool = False,
    ) -> _Answer:
        """One request and its answer, inside the host's throttle slot and the remaining budget.

        ``page=False`` (robots.txt) returns any status and content type as they are, and is never cut.
        """
        if self._session is None:
            raise RuntimeError("HttpFetcher used outside `async with`")
        host = target.raw_host or ""
        pacing = self._throttle.delay_for(host)
        if pacing > self._config.max_throttle_wait_seconds:
            raise RetriableFetchError(
                f"{target}: host asked to wait {pacing:.1f}s (Retry-After, back-off or Crawl-delay), "
                f"above max_throttle_wait_seconds={self._config.max_throttle_wait_seconds}",
                error_class=THROTTLED,
                retry_after_seconds=self._throttle.reserve(host),
            )
        queued = perf_counter()
        async with AsyncExitStack() as lanes:
            if slow:
                await lanes.enter_async_context(self._slow_lane.held(host, waiting))
            await lanes.enter_async_context(self._throttle.slot(host, waiting))
            sent = perf_counter()
            timings["wait"] += sent - queued
            remaining = budget_seconds - timings["connect_and_headers"] - timings["body"]
            watched = Watch()
            try:
                with translate_transport_errors(target):
                    async with asyncio.timeout(remaining) as deadline:
                        with ExitStack() as watching:
                            if page and not slow:
                                watched = watching.enter_context(self._slow_lane.watch(host, deadline))
                            async with self._session.get(target, allow_redirects=False,
                                                         trace_request_ctx={"host": host}) as response:
                                answered = perf_counter()
                                timings["connect_and_headers"] += answered - sent
                                try:
                                    return await self._judge(response, target, limits, answered - sent, page=page,
                                                             any_type=any_type)
                                finally:
                                    timings["body"] += perf_counter() - answered
            except RetriableFetchError as exc:
                if watched.cut:
                    raise RetriableFetchError(
                        f"{target}: still running after slow_request_seconds={self._config.slow_request_seconds} "
                        "with every slow place of the host taken",
                        error_class=SLOW_REQUEST,
                    ) from exc
                if exc.error_class in (TIMEOUT, CONNECTION):
                    self._throttle.record_failure(host)
                raise

    async def _judge(
        self,
        response: aiohttp.ClientResponse,
        target: URL,
        limits: BodyLimits,
        latency_seconds: float,
        *,
        page: bool,
        any_type: bool = False,
    ) -> _Answer:
        """Turn a response into an answer or an error; read the body only if it is wanted."""
        status = response.status
        retry_after = None
        if _is_retriable_status(status):
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), max_seconds=self._config.max_retry_after_seconds
            )
        self._throttle.record_response(
            target.raw_host or "", status=status, elapsed_seconds=latency_seconds, retry_after_seconds=retry_after
        )
        content_type = response.content_type
        charset = response.charset
        location = response.headers.get("Location") if status in _REDIRECT_STATUSES else None
        if location:
            return _Answer(status, content_type, charset, b"", location)
        if page:
            if _is_retriable_status(status):
                raise RetriableHttpStatus(
                    f"{target}: HTTP {status}", status=status, retry_after_seconds=retry_after
                )
            if not 200 <= status < 300:
                raise FinalHttpStatus(f"{target}: HTTP {status}", status=status)
            if content_type not in _HTML_TYPES and not (any_type or self._config.store_non_html):
                raise BadMessage(
                    f"{target}: Content-Type {content_type} is not HTML (set store_non_html to keep it)",
                    error_class=UNSUPPORTED_CONTENT_TYPE,
                )
        declared = response.content_length
        if declared is not None and declared > limits.max_raw_bytes and not limits.truncate:
            raise BadMessage(
                f"{target}: Content-Length {declared} exceeds max_body_bytes={limits.max_raw_bytes}",
                error_class=TOO_LARGE,
            )
        body = await read_body(response.content, response.headers.get("Content-Encoding"), limits, url=target)
        return _Answer(status, content_type, charset, body, None)
