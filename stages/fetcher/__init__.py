"""The fetcher stage: consumes ``crawl.urls``, produces ``crawl.pages`` and ``crawl.dlq``.

See the data flow in ``stages/__init__.py``. This package holds the HTTP
engine the stage calls (``client.HttpFetcher``) and its parts, one job each:
``config`` (settings), ``urls`` (URL validation), ``addresses`` (SSRF guard),
``robots`` (robots.txt), ``politeness`` (per-host throttle), ``body`` and
``decoding`` (capped streaming reads), ``errors`` (error classes).
"""

from stages.fetcher.client import FetchedPage, HttpFetcher
from stages.fetcher.settings import FetchConfig

__all__ = ["FetchConfig", "FetchedPage", "HttpFetcher"]
