"""Micro-benchmark: HttpFetcher vs a bare ``session.get(); await resp.read()`` loop.

Not a test. Serves small HTML pages from an aiohttp server in a child process
on 127.0.0.1 and fetches them with both clients at the same concurrency,
interleaved for a few rounds, keeping each client's best round.

    /tmp/venv/bin/python -m tests.fetcher.bench_engine [--pages 2000] [--concurrency 64] [--rounds 3] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.synchronize
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from stages.fetcher.client import HttpFetcher
from tests.fetcher.conftest import local_config

PAGE = b"<!doctype html><html><body>" + b"<p>product listing row</p>" * 200 + b"</body></html>"


def serve(port_queue: multiprocessing.Queue, stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[type-arg]
    """The page server, run in its own process so it does not share the client's CPU."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html", charset="utf-8")

    async def robots(request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private\n")

    async def run_server() -> None:
        app = web.Application()
        app.add_routes([web.get("/robots.txt", robots), web.get("/p/{n}", page)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        port_queue.put(runner.addresses[0][1])
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    asyncio.run(run_server())


async def run(concurrency: int, pages: int, fetch_one: Callable[[int], Awaitable[int]]) -> tuple[float, float]:
    """Pages per second, and client CPU milliseconds per page (the figure that survives a noisy machine)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(pages):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            assert await fetch_one(queue.get_nowait()) == len(PAGE)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return pages / (time.perf_counter() - started), (time.process_time() - cpu_started) / pages * 1000


async def bench(port: int, pages: int, concurrency: int, rounds: int) -> None:
    base = f"http://127.0.0.1:{port}/p/"
    config = local_config(max_connections=concurrency, max_connections_per_host=concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session, HttpFetcher(config) as fetcher:

        async def bare(n: int) -> int:
            async with session.get(base + str(n)) as response:
                return len(await response.read())

        async def engine(n: int) -> int:
            return len((await fetcher.fetch(base + str(n))).body)

        results: dict[str, list[tuple[float, float]]] = {"bare": [], "engine": []}
        for fetch_one in (bare, engine):
            await run(concurrency, 200, fetch_one)  # warm the pools and robots.txt
        for _ in range(rounds):
            results["bare"].append(await run(concurrency, pages, bare))
            results["engine"].append(await run(concurrency, pages, engine))
    print(f"pages={pages} concurrency={concurrency} page_bytes={len(PAGE)} best of {rounds} rounds")
    for label, name in (("bare session.get + read", "bare"), ("HttpFetcher.fetch", "engine")):
        rate = max(r for r, _ in results[name])
        cpu = min(c for _, c in results[name])
        print(f"{label:24}: {rate:7.0f} pages/s  {cpu:.3f} client CPU ms/page")


def main() -> None:
    parser = argparse.ArgumentParser(description="HttpFetcher vs bare aiohttp")
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    port_queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port_queue, stop), daemon=True)
    server.start()
    try:
        port = port_queue.get(timeout=10)
        if args.uvloop:
            import uvloop

            uvloop.run(bench(port, args.pages, args.concurrency, args.rounds))
        else:
            asyncio.run(bench(port, args.pages, args.concurrency, args.rounds))
    finally:
        stop.set()
        server.join(timeout=5)


if __name__ == "__main__":
    main()
