"""A slow site: static files answered 50-200 ms late, as a distant or busy server answers.

``python -m stages.demoshop.latency --root DIR`` serves the files under DIR
(a site written by ``write_site`` or ``shapes.write_shape_site``) on
loopback and prints its base URL. Each answer waits a latency drawn per path
from ``random.Random(f"{seed}:{path}")``, uniform between the bounds, so a
page is as slow in every run and for every crawler. nginx has no such delay;
the server's own CPU (a file read and an HTTP answer per request) is small
beside the wait, and the benchmark counts it for no crawler.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import socket
from pathlib import Path

from aiohttp import web

from stages.demoshop.shapes import SLOW_LATENCY_MS

_BACKLOG = 1024
_TYPES = {".html": "text/html", ".txt": "text/plain"}
_root_key = web.AppKey("root", Path)
_latency_key = web.AppKey("latency_ms", tuple)
_seed_key = web.AppKey("seed", int)


def latency_seconds(path: str, seed: int, low_ms: float, high_ms: float) -> float:
    """The answer delay of ``path``: the same in every run."""
    return random.Random(f"{seed}:{path}").uniform(low_ms, high_ms) / 1000


async def _serve_file(request: web.Request) -> web.Response:
    root = request.app[_root_key]
    file = (root / request.match_info["path"]).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise web.HTTPNotFound()
    await asyncio.sleep(latency_seconds(request.path, request.app[_seed_key], *request.app[_latency_key]))
    # From the page cache in microseconds: a thread would cost more than it saves.
    body = file.read_bytes()
    return web.Response(body=body, content_type=_TYPES.get(file.suffix, "application/octet-stream"),
                        charset="utf-8" if file.suffix in _TYPES else None)


def make_app(root: Path, seed: int, low_ms: float, high_ms: float) -> web.Application:
    app = web.Application()
    app[_root_key] = root.resolve()
    app[_latency_key] = (low_ms, high_ms)
    app[_seed_key] = seed
    app.router.add_get("/{path:.+}", _serve_file)
    return app


async def start_slow_site(root: Path, *, seed: int, low_ms: float, high_ms: float, host: str = "127.0.0.1",
                          port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve ``root`` on ``host:port`` (0: any free port); returns the runner (``cleanup()`` stops it) and base URL."""
    sock = socket.create_server((host, port), backlog=_BACKLOG)
    runner = web.AppRunner(make_app(root, seed, low_ms, high_ms), access_log=None)
    try:
        await runner.setup()
        await web.SockSite(runner, sock, backlog=_BACKLOG).start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    return runner, f"http://{host}:{sock.getsockname()[1]}"


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner, base_url = await start_slow_site(args.root, seed=args.seed, low_ms=args.min_ms, high_ms=args.max_ms,
                                             host=args.host, port=args.port)
    try:
        print(base_url, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.demoshop.latency", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="directory of the static site")
    parser.add_argument("--seed", type=int, default=7, help="seed of the per-path latency (default: 7)")
    parser.add_argument("--min-ms", type=float, default=SLOW_LATENCY_MS[0], help="least latency of an answer")
    parser.add_argument("--max-ms", type=float, default=SLOW_LATENCY_MS[1], help="greatest latency of an answer")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default: 0)")
    args = parser.parse_args(argv)
    if not 0 <= args.min_ms <= args.max_ms:
        parser.error(f"need 0 <= --min-ms <= --max-ms, got {args.min_ms} and {args.max_ms}")
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args))
    else:
        uvloop.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
