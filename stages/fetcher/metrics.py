"""The fetcher's own metrics: what the runner cannot see of a fetch."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram

from stages.core.metrics import REGISTRY

_FETCH_SECONDS = Histogram(
    "crawlpipe_fetcher_fetch_seconds", "wall time of one fetch, including the per-host politeness wait",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
_HTTP_RESPONSES = Counter(
    "crawlpipe_fetcher_http_responses", "HTTP responses to page fetches by status code",
    labelnames=["status"], registry=REGISTRY)


def fetched(seconds: float, status: int | None) -> None:
    """One fetch ended after ``seconds``; ``status`` is None when no HTTP response came."""
    _FETCH_SECONDS.observe(seconds)
    if status is not None:
        _responses_with(status).inc()


@functools.lru_cache(maxsize=1000)  # HTTP has fewer status codes; labels() costs a lock and a lookup per page
def _responses_with(status: int) -> Counter:
    return _HTTP_RESPONSES.labels(status=str(status))
_REPEATED_LINKS = Counter(
    "crawlpipe_fetcher_repeated_links", "followed links skipped: this fetcher had already taken the URL on",
    registry=REGISTRY)


def repeated_link() -> None:
    _REPEATED_LINKS.inc()
_SITEMAPS_DISCOVERED = Counter(
    "crawlpipe_fetcher_sitemaps_discovered", "sitemap URLs found in the robots.txt of discover seeds",
    registry=REGISTRY)


def sitemaps_discovered(count: int) -> None:
    _SITEMAPS_DISCOVERED.inc(count)
