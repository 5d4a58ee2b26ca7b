"""The live shop: same bytes as the renderer, 404 for the rest, counts what it served, stops cleanly."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import ROBOTS_TXT, render_listing, render_product
from stages.demoshop.server import RunningShop, main, start_shop

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def shop() -> AsyncIterator[RunningShop]:
    async with await start_shop(Catalog(5)) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_serves_listing_product_and_robots(shop: RunningShop, client: aiohttp.ClientSession) -> None:
    assert shop.base_url == f"http://127.0.0.1:{shop.port}"
    async with client.get(f"{shop.base_url}/list/3.html") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert await resp.read() == render_listing(shop.catalog, 3)
    async with client.get(f"{shop.base_url}/product/p00000402.html") as resp:
        assert await resp.read() == render_product(shop.catalog, "p00000402")
    async with client.get(f"{shop.base_url}/robots.txt") as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert await resp.read() == ROBOTS_TXT + f"Sitemap: {shop.base_url}/sitemap.xml\n".encode()


@pytest.mark.parametrize("path", [
    "/", "/list/0.html", "/list/6.html", "/list/01.html", "/list/1", "/product/p00000199.html",
    "/product/p00000600.html", "/img/p00000100.jpg", "/category/kitchen.html", "/private/account.html",
])
async def test_unknown_paths_are_404_and_not_counted_by_name(
        shop: RunningShop, client: aiohttp.ClientSession, path: str) -> None:
    async with client.get(shop.base_url + path) as resp:
        assert resp.status == 404
    assert (shop.stats.requests_total, shop.stats.not_found_total) == (1, 1)
    assert not shop.stats.served_by_path


async def test_counts_requests_per_path(shop: RunningShop, client: aiohttp.ClientSession) -> None:
    for path in ("/list/1.html", "/list/1.html", "/list/2.html", "/robots.txt"):
        async with client.get(shop.base_url + path) as resp:
            await resp.read()
    async with client.head(shop.base_url + "/list/2.html") as resp:
        assert resp.status == 200
    assert shop.stats.requests_total == 5
    assert shop.stats.served_by_path == {"/list/1.html": 2, "/list/2.html": 2, "/robots.txt": 1}


async def test_keeps_connections_alive(shop: RunningShop) -> None:
    connections = 0

    async def on_connection(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: object) -> None:
        nonlocal connections
        connections += 1

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_connection)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), trace_configs=[trace]) as session:
        for n in (1, 2, 3, 4):
            async with session.get(f"{shop.base_url}/list/{n}.html") as resp:
                await resp.read()
    assert connections == 1


async def test_close_stops_listening(client: aiohttp.ClientSession) -> None:
    running = await start_shop(Catalog(1))
    await running.close()
    with pytest.raises(aiohttp.ClientConnectorError):
        async with client.get(f"{running.base_url}/list/1.html"):
            pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_command_prints_base_url_serves_and_exits_cleanly_on_signal(
        signum: signal.Signals, client: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stages.demoshop", "--pages", "3", "--port", "0",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        base_url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        async with client.get(f"{base_url}/list/3.html") as resp:
            assert await resp.read() == render_listing(Catalog(3), 3)
        proc.send_signal(signum)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert await proc.stderr.read() == b""
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_command_refuses_a_bad_page_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--pages", "0"])
    assert exit_info.value.code == 2
    assert "pages must be between 1 and" in capsys.readouterr().err
