"""A hostile (and a few friendly) HTTP servers for the fetcher's tests.

One aiohttp app, served on 127.0.0.1 and 127.0.0.2 (two "hosts", both
loopback), with one route per bad behaviour a crawler meets on the web:
trickling, stalling, huge and bomb bodies, redirect loops, 429/503, resets,
wrong content types, robots.txt rules and slow hosts (one that waits for the
test, one that answers slowly, one that is busy for a few seconds). The
server counts hits per path and exposes events so tests can assert on
ordering, not timing.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import brotli
from aiohttp import web

HTML = b"<!doctype html><html><head><title>ok</title></head><body><p>product</p></body></html>"
HUGE_BYTES = 100 * 1024 * 1024
BOMB_BYTES = 64 * 1024 * 1024
CHUNK = b"x" * 65536


@functools.cache
def gzip_bomb() -> bytes:
    """64 MiB of zeros, about 64 KiB compressed; built once per test session."""
    return gzip.compress(bytes(BOMB_BYTES), compresslevel=9)


@functools.cache
def brotli_bomb() -> bytes:
    """64 MiB of zeros, about a hundred bytes compressed."""
    return brotli.compress(bytes(BOMB_BYTES), quality=5)


@asynccontextmanager
async def raw_server(reply: bytes) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 that answers any request with ``reply`` verbatim, for broken HTTP."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        server.close()
        await server.wait_closed()


class HostileServer:
    """The app, its counters and events, and the two sites it listens on."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.robots_status = 200
        self.robots_body = b"User-agent: *\nDisallow: /private\n"
        self.huge_bytes_sent = 0
        self.huge_hung_up = asyncio.Event()
        self.slow_arrivals = 0
        self.slow_arrived = asyncio.Event()
        self.release_slow = asyncio.Event()
        self.sluggish_seconds = 0.6
        self.drip_seconds = 2.0
        self.sluggish_arrived = asyncio.Event()
        self.busy_seconds = 3
        self.busy_until: float | None = None
        self.busy_arrived = asyncio.Event()
        self.busy_refused_at: list[float] = []
        self.port = 0
        self.slow_port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        """A URL on the fast host, 127.0.0.1."""
        return f"http://127.0.0.1:{self.port}{path}"

    def slow_url(self, path: str) -> str:
        """A URL on the second host, 127.0.0.2."""
        return f"http://127.0.0.2:{self.slow_port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.middlewares.append(self._count)
        app.add_routes(
            [
                web.get("/robots.txt", self._robots),
                web.get("/ok", self._html),
                web.get("/page/{n}", self._html),
                web.get("/private", self._html),
                web.get("/private/{rest:.*}", self._html),
                web.get("/trickle", self._trickle),
                web.get("/drip/{n}", self._drip),
                web.get("/stall", self._stall),
                web.get("/huge", self._huge),
                web.get("/huge-declared", self._huge_declared),
                web.get("/gzip-bomb", self._gzip_bomb),
                web.get("/brotli-bomb", self._brotli_bomb),
                web.get("/encoded/{encoding}", self._encoded),
                web.get("/loop/{side}", self._loop),
                web.get("/chain/{n}", self._chain),
                web.get("/redirect-to", self._redirect_to),
                web.get("/retry-after", self._retry_after),
                web.get("/flaky", self._flaky),
                web.get("/status/{code}", self._status),
                web.get("/reset", self._reset),
                web.get("/png", self._png),
                web.get("/bad-charset", self._bad_charset),
                web.get("/no-content-type", self._no_content_type),
                web.get("/slow", self._slow),
                web.get("/sluggish/{n}", self._sluggish),
                web.get("/busy/{n}", self._busy),
            ]
        )
        # handler_cancellation: a handler whose client hung up is cancelled,
        # so stalled handlers never hold up the test's teardown.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        self.port = await self._listen("127.0.0.1")
        self.slow_port = await self._listen("127.0.0.2")

    async def stop(self) -> None:
        self.release_slow.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> HostileServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _listen(self, host: str) -> int:
        assert self._runner is not None
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        return next(port for (address, port, *_) in self._runner.addresses if address == host)

    @web.middleware
    async def _count(self, request: web.Request, handler: web.Handler) -> web.StreamResponse:
        self.hits[request.path] += 1
        return await handler(request)

    async def _robots(self, request: web.Request) -> web.Response:
        return web.Response(status=self.robots_status, body=self.robots_body, content_type="text/plain")

    async def _html(self, request: web.Request) -> web.Response:
        return web.Response(body=HTML, content_type="text/html", charset="utf-8")

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        for _ in range(30):
            await response.write(b"<")
            await asyncio.sleep(1)
        return response

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        """A body that trickles for ``drip_seconds``: a page that works but holds its connection long."""
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        for _ in range(int(self.drip_seconds * 10)):
            await response.write(b" ")
            await asyncio.sleep(0.1)
        await response.write(HTML)
        return response

    async def _stall(self, request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(body=HTML, content_type="text/html")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        try:
            while self.huge_bytes_sent < HUGE_BYTES:
                await response.write(CHUNK)
                self.huge_bytes_sent += len(CHUNK)
        except ConnectionResetError:
            self.huge_hung_up.set()  # what the client should do; the test awaits it
        except asyncio.CancelledError:
            # The same hang-up, seen first by aiohttp: handler_cancellation
            # cancels the handler while its write waits on a full socket buffer.
            self.huge_hung_up.set()
            raise
        return response

    async def _huge_declared(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.content_length = HUGE_BYTES
        await response.prepare(request)
        await response.write(CHUNK)
        self.huge_bytes_sent += len(CHUNK)
        await asyncio.sleep(30)
        return response

    async def _gzip_bomb(self, request: web.Request) -> web.Response:
        return web.Response(
            body=gzip_bomb(), headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
        )

    async def _brotli_bomb(self, request: web.Request) -> web.Response:
        return web.Response(body=brotli_bomb(), headers={"Content-Type": "text/html", "Content-Encoding": "br"})

    async def _encoded(self, request: web.Request) -> web.Response:
        encoding = request.match_info["encoding"]
        compress = {
            "gzip": gzip.compress,
            "deflate": zlib.compress,
            "raw-deflate": lambda data: zlib.compress(data)[2:-4],
            "br": brotli.compress,
            "gzip-br": lambda data: brotli.compress(gzip.compress(data)),
        }[encoding]
        header = {"raw-deflate": "deflate", "gzip-br": "gzip, br"}.get(encoding, encoding)
        return web.Response(
            body=compress(HTML), headers={"Content-Type": "text/html", "Content-Encoding": header}
        )

    async def _loop(self, request: web.Request) -> web.Response:
        other = "b" if request.match_info["side"] == "a" else "a"
        raise web.HTTPFound(f"/loop/{other}")

    async def _chain(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        raise web.HTTPMovedPermanently(f"/chain/{n - 1}" if n > 0 else "/ok")

    async def _redirect_to(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["target"])

    async def _retry_after(self, request: web.Request) -> web.Response:
        if self.hits[request.path] == 1:
            return web.Response(status=429, headers={"Retry-After": "1"}, text="slow down")
        return web.Response(body=HTML, content_type="text/html")

    async def _flaky(self, request: web.Request) -> web.Response:
        if self.hits[request.path] <= 3:
            return web.Response(status=503, text="try later")
        return web.Response(body=HTML, content_type="text/html")

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.content_length = 100_000
        await response.prepare(request)
        await response.write(HTML)
        assert request.transport is not None
        request.transport.abort()
        return response

    async def _png(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")

    async def _bad_charset(self, request: web.Request) -> web.Response:
        return web.Response(body=HTML, headers={"Content-Type": "text/html; charset=x-no-such-charset"})

    async def _no_content_type(self, request: web.Request) -> web.Response:
        response = web.Response(body=HTML)
        response.headers.popall("Content-Type", None)
        return response

    async def _slow(self, request: web.Request) -> web.Response:
        self.slow_arrivals += 1
        self.slow_arrived.set()
        # Bounded, so a failing test cannot hang on it.
        await asyncio.wait_for(self.release_slow.wait(), timeout=5)
        return web.Response(body=HTML, content_type="text/html")

    async def _sluggish(self, request: web.Request) -> web.Response:
        """Every answer takes ``sluggish_seconds``: a host that is slow but works."""
        self.sluggish_arrived.set()
        await asyncio.sleep(self.sluggish_seconds)
        return web.Response(body=HTML, content_type="text/html")

    async def _busy(self, request: web.Request) -> web.Response:
        """Busy for ``busy_seconds`` from the first request: 503 with that Retry-After until then, pages after."""
        self.busy_arrived.set()
        now = time.time()
        if self.busy_until is None:
            self.busy_until = now + self.busy_seconds
        if now < self.busy_until:
            self.busy_refused_at.append(now)
            return web.Response(status=503, headers={"Retry-After": str(self.busy_seconds)}, text="busy")
        return web.Response(body=HTML, content_type="text/html")
