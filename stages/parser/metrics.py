"""The parser's own metrics: how long extraction takes and what it finds."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from stages.core.metrics import REGISTRY

_PARSE_SECONDS = Histogram(
    "crawlpipe_parser_parse_seconds", "CPU-bound time to decode, parse and extract one page",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1), registry=REGISTRY)
_PRODUCTS_PER_PAGE = Histogram(
    "crawlpipe_parser_products_per_page", "products extracted from one page",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500), registry=REGISTRY)


def parsed(seconds: float, products: int) -> None:
    _PARSE_SECONDS.observe(seconds)
    _PRODUCTS_PER_PAGE.observe(products)


_SITEMAP_URLS = Counter(
    "crawlpipe_parser_sitemap_urls", "URLs published from sitemaps, by kind (page: from a urlset, sitemap: from "
    "an index)", labelnames=["kind"], registry=REGISTRY)
_DISCONTINUED = Counter(
    "crawlpipe_parser_discontinued", "discontinued records published, by reason", labelnames=["reason"],
    registry=REGISTRY)


def sitemap_urls(kind: str, count: int) -> None:
    _SITEMAP_URLS.labels(kind=kind).inc(count)


def discontinued(reason: str) -> None:
    _DISCONTINUED.labels(reason=reason).inc()
