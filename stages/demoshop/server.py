"""Serve the demo shop over HTTP, rendering each page on request.

The same bytes as ``write_site`` writes, so a test against this server and a
benchmark against nginx see one site. Nothing is precomputed: memory stays
flat however many pages the shop has, apart from a small cache of recently
rendered pages (a crawler asks for robots.txt and page 1 first, then mostly
new pages).

``ShopStats`` counts what was served so a test can prove that a replay
fetched nothing. Only paths that exist are counted by name, which bounds the
counter by the size of the shop whatever a client asks for. With
``hold_seconds`` (every answer waits that long, as on a real site) it also
records what a crawler's politeness looks like from the server's side: the
most requests it had at once, and the shortest time between two request
starts that the server can vouch for (``stalls.py``: a start delayed by the
server's own stall may have arrived that much earlier).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

from aiohttp import web

from stages.demoshop import sitemaps
from stages.demoshop.catalog import Catalog
from stages.demoshop.live import LiveCatalog
from stages.demoshop.pages import render_listing, render_product
from stages.demoshop.stalls import STALLS, TICK_SECONDS

_HTML = "text/html"
_KEEPALIVE_TIMEOUT_SECONDS = 75.0  # aiohttp's default, stated: the fetcher's pool relies on it
_SHUTDOWN_TIMEOUT_SECONDS = 5.0  # handlers are CPU-only and short; don't wait aiohttp's 60 s default
_RENDER_CACHE_PAGES = 32
_LISTEN_BACKLOG = 1024  # a fetcher opens ~200 connections at once; 128 would drop some SYNs

_stats_key: web.AppKey[ShopStats] = web.AppKey("stats")
_hold_key = web.AppKey("hold_seconds", float)


@dataclass(slots=True)
class ShopStats:
    """Requests answered since the server started; read by tests, never reset behind their back."""

    requests_total: int = 0
    not_found_total: int = 0
    served_by_path: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    # Each gap is counted at its longest: the previous start plus the server stall before it may hide that much.
    min_gap_seconds: float = math.inf
    last_start: float = -math.inf
    last_stall: float = 0.0

    def started(self, stall_seconds: float) -> None:
        """A request came in ``stall_seconds`` after the server could first have seen it: count it and its gap."""
        now = time.monotonic()
        self.requests_total += 1
        self.min_gap_seconds = min(self.min_gap_seconds, now - self.last_start + self.last_stall)
        self.last_start, self.last_stall = now, stall_seconds + TICK_SECONDS
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)


@web.middleware
async def _count(request: web.Request,
                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    stats = request.app[_stats_key]
    stats.started(STALLS.stall_seconds() if request.app[_hold_key] else 0.0)
    try:
        if hold := request.app[_hold_key]:
            # The site's own response time: the behaviour a politeness test measures against.
            await asyncio.sleep(hold)
        response = await handler(request)
    except web.HTTPNotFound:
        stats.not_found_total += 1
        raise
    finally:
        stats.in_flight -= 1
    stats.served_by_path[request.path] += 1
    return response


def make_app(catalog: Catalog, hold_seconds: float = 0.0) -> web.Application:
    """The shop as an aiohttp application: robots.txt, sitemaps, /list/{n}.html, /product/{id}.html; 404 otherwise.

    A ``LiveCatalog`` changes between requests, so its pages are never cached, and a removed product answers 410.
    """
    def render(n: int) -> bytes:
        return render_listing(catalog, n)
    live = catalog if isinstance(catalog, LiveCatalog) else None
    listing = render if live else lru_cache(maxsize=_RENDER_CACHE_PAGES)(render)

    async def robots(request: web.Request) -> web.Response:
        return web.Response(body=sitemaps.render_robots(_base_url(request)), content_type="text/plain",
                            charset="utf-8")

    async def sitemap_index(request: web.Request) -> web.Response:
        return web.Response(body=sitemaps.render_index(_base_url(request)), content_type="application/xml")

    async def sitemap(request: web.Request) -> web.Response:
        part = sitemaps.SITEMAP_PATHS.index(request.path) + 1
        body = sitemaps.render_sitemap(catalog, _base_url(request), part)
        return web.Response(body=body, content_type="application/gzip" if part == 2 else "application/xml")

    async def listing_page(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n > catalog.pages:
            raise web.HTTPNotFound()
        return web.Response(body=listing(n), content_type=_HTML, charset="utf-8")

    async def product_page(request: web.Request) -> web.Response:
        if live and live.is_removed(request.match_info["id"]):
            raise web.HTTPGone()
        try:
            body = render_product(catalog, request.match_info["id"])
        except KeyError:
            raise web.HTTPNotFound() from None
        return web.Response(body=body, content_type=_HTML, charset="utf-8")

    app = web.Application(middlewares=[_count])
    app[_stats_key] = ShopStats()
    app[_hold_key] = hold_seconds
    # The patterns accept only canonical spellings ("/list/7.html", not "/list/07.html"): one page, one URL.
    app.router.add_get("/robots.txt", robots)
    app.router.add_get(sitemaps.INDEX_PATH, sitemap_index)
    for path in sitemaps.SITEMAP_PATHS:
        app.router.add_get(path, sitemap)
    app.router.add_get(r"/list/{n:[1-9][0-9]{0,5}}.html", listing_page)
    app.router.add_get(r"/product/{id:p[0-9]{8}}.html", product_page)
    return app


def _base_url(request: web.Request) -> str:
    """The shop's address as the client used it, so sitemaps name URLs the client can fetch."""
    return f"{request.scheme}://{request.host}"


@dataclass(slots=True)
class RunningShop:
    """A started shop; ``await close()`` (or ``async with``) stops it."""

    base_url: str
    port: int
    catalog: Catalog
    stats: ShopStats
    _runner: web.AppRunner

    async def close(self) -> None:
        await self._runner.cleanup()
        if self._runner.app[_hold_key]:
            await STALLS.leave()

    async def __aenter__(self) -> RunningShop:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_shop(catalog: Catalog, host: str = "127.0.0.1", port: int = 0,
                     hold_seconds: float = 0.0) -> RunningShop:
    """Serve ``catalog`` on ``host:port`` (port 0: any free port), each answer ``hold_seconds`` late, and return
    once it accepts connections."""
    # Bind the socket ourselves: it is the public way to learn which port 0 became.
    sock = socket.create_server((host, port))
    app = make_app(catalog, hold_seconds)
    # A held answer whose client has gone (a fetcher that gave a revoked partition's request up) stops being
    # served, as on a real site, so it is not counted as a request in flight.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=_KEEPALIVE_TIMEOUT_SECONDS,
                           shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS, handler_cancellation=hold_seconds > 0)
    try:
        await runner.setup()
        await web.SockSite(runner, sock, backlog=_LISTEN_BACKLOG).start()
        if hold_seconds:
            STALLS.join()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    bound = sock.getsockname()[1]
    return RunningShop(f"http://{host}:{bound}", bound, catalog, app[_stats_key], runner)


async def _serve(catalog: Catalog, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with await start_shop(catalog, host, port) as shop:
        print(shop.base_url, flush=True)
        await stop.wait()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The shop's options, shared by ``python -m stages.demoshop`` and ``crawlpipe shop``."""
    parser.add_argument("--pages", type=int, default=100, help="listing pages (default: 100)")
    parser.add_argument("--seed", type=int, default=7, help="catalog seed (default: 7)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default: 0)")
    parser.add_argument("--volatile-every", type=int, default=0, metavar="N",
                        help="every Nth product's price changes on every visit (default: 0, none)")
    parser.add_argument("--print-rules", action="store_true",
                        help="print the path of the shop's parser rules file (shipped in the package) and exit")


def serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Print the base URL and serve until SIGTERM/SIGINT (or print the rules file's path)."""
    if args.print_rules:
        print(files("stages.demoshop") / "rules.toml")
        return 0
    try:
        catalog = (LiveCatalog(args.pages, args.seed, volatile_every=args.volatile_every) if args.volatile_every
                   else Catalog(args.pages, args.seed))
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_serve(catalog, args.host, args.port))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m stages.demoshop --pages N [--port P]``: print the base URL, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m stages.demoshop", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return serve(parser, parser.parse_args(argv))
