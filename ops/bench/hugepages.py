"""A server of multi-MB product pages for the soak benchmark's hostile variant.

``/huge/N.html`` is demo-shop listing page N padded with an HTML comment to
``--bytes``: real products inside a page far larger than the usual 40-80 KB.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stages.demoshop.catalog import Catalog  # noqa: E402
from stages.demoshop.pages import render_listing  # noqa: E402


async def serve(catalog: Catalog, size: int) -> None:
    async def page(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if not 1 <= n <= catalog.pages:
            raise web.HTTPNotFound()
        body = render_listing(catalog, n)
        padding = b"<!--" + b"x" * max(0, size - len(body) - 7) + b"-->"
        return web.Response(body=body.replace(b"</body>", padding + b"</body>"), content_type="text/html")

    async def robots(request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n")

    app = web.Application()
    app.router.add_get("/huge/{n:\\d+}.html", page)
    app.router.add_get("/robots.txt", robots)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument("--bytes", type=int, default=4 * 2**20)
    args = parser.parse_args()
    asyncio.run(serve(Catalog(args.pages), args.bytes))


if __name__ == "__main__":
    main()
