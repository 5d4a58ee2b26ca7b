"""Serve the demo shop over HTTP, rendering each page on request.

The same bytes as ``write_site`` writes, so a test against this server and a
benchmark against nginx see one site. Nothing is precomputed: memory stays
flat however many pages the shop has, apart from a small cache of recently
rendered pages (a crawler asks for robots.txt and page 1 first, then mostly
new pages).

``ShopStats`` counts what was served so a test can prove that a replay
fetched nothing. Only paths that exist are counted by name, which bounds the
counter by the size of the shop whatever a client asks for.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Awaitable, Callable

from aiohttp import web

from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import ROBOTS_TXT, render_listing, render_product

_HTML = "text/html"
_KEEPALIVE_TIMEOUT_SECONDS = 75.0  # aiohttp's default, stated: the fetcher's pool relies on it
_SHUTDOWN_TIMEOUT_SECONDS = 5.0  # handlers are CPU-only and short; don't wait aiohttp's 60 s default
_RENDER_CACHE_PAGES = 32
_LISTEN_BACKLOG = 1024  # a fetcher opens ~200 connections at once; 128 would drop some SYNs

_stats_key = web.AppKey("stats", "ShopStats")


@dataclass(slots=True)
class ShopStats:
    """Requests answered since the server started; read by tests, never reset behind their back."""

    requests_total: int = 0
    not_found_total: int = 0
    served_by_path: Counter[str] = field(default_factory=Counter)


@web.middleware
async def _count(request: web.Request,
                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    stats = request.app[_stats_key]
    stats.requests_total += 1
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        stats.not_found_total += 1
        raise
    stats.served_by_path[request.path] += 1
    return response


def make_app(catalog: Catalog) -> web.Application:
    """The shop as an aiohttp application: robots.txt, /list/{n}.html, /product/{id}.html; 404 otherwise."""
    listing = lru_cache(maxsize=_RENDER_CACHE_PAGES)(lambda n: render_listing(catalog, n))

    async def robots(request: web.Request) -> web.Response:
        return web.Response(body=ROBOTS_TXT, content_type="text/plain", charset="utf-8")

    async def listing_page(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n > catalog.pages:
            raise web.HTTPNotFound()
        return web.Response(body=listing(n), content_type=_HTML, charset="utf-8")

    async def product_page(request: web.Request) -> web.Response:
        try:
            body = render_product(catalog, request.match_info["id"])
        except KeyError:
            raise web.HTTPNotFound() from None
        return web.Response(body=body, content_type=_HTML, charset="utf-8")

    app = web.Application(middlewares=[_count])
    app[_stats_key] = ShopStats()
    # The patterns accept only canonical spellings ("/list/7.html", not "/list/07.html"): one page, one URL.
    app.router.add_get("/robots.txt", robots)
    app.router.add_get(r"/list/{n:[1-9][0-9]{0,5}}.html", listing_page)
    app.router.add_get(r"/product/{id:p[0-9]{8}}.html", product_page)
    return app


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

    async def __aenter__(self) -> RunningShop:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_shop(catalog: Catalog, host: str = "127.0.0.1", port: int = 0) -> RunningShop:
    """Serve ``catalog`` on ``host:port`` (port 0: any free port) and return once it accepts connections."""
    # Bind the socket ourselves: it is the public way to learn which port 0 became.
    sock = socket.create_server((host, port))
    app = make_app(catalog)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=_KEEPALIVE_TIMEOUT_SECONDS,
                           shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS)
    try:
        await runner.setup()
        await web.SockSite(runner, sock, backlog=_LISTEN_BACKLOG).start()
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


def main(argv: list[str] | None = None) -> int:
    """``python -m stages.demoshop --pages N [--port P]``: print the base URL, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m stages.demoshop", description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100, help="listing pages (default: 100)")
    parser.add_argument("--seed", type=int, default=7, help="catalog seed (default: 7)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default: 0)")
    parser.add_argument("--print-rules", action="store_true",
                        help="print the path of the shop's parser rules file (shipped in the package) and exit")
    args = parser.parse_args(argv)
    if args.print_rules:
        print(files("stages.demoshop") / "rules.toml")
        return 0
    try:
        catalog = Catalog(args.pages, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_serve(catalog, args.host, args.port))
    return 0
