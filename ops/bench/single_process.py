"""ops/bench/single_process.py URLS_FILE OUT_JSONL: the plain single-process crawler ops/bench/e2e compares with.

Written the way a good engineer writes a quick, fast crawler: one aiohttp
session, at most 200 requests in flight (a semaphore taken before each task
is created, so 20,000 URLs never become 20,000 pending coroutines), one
selectolax tree per page with the CSS selectors of stages/demoshop/rules.toml,
and products appended to a JSON-lines file with orjson. Parsing runs on the
event loop: with one process there is nowhere else for it to run. It has none
of crawlpipe's guarantees (no retries, no robots.txt, no resume after a crash).
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urljoin

import aiohttp
import orjson
from selectolax.lexbor import LexborHTMLParser, LexborNode

CONCURRENCY = 200


def _text(node: LexborNode | None) -> str | None:
    return " ".join(node.text().split()) if node is not None else None


def _attr(node: LexborNode | None, name: str) -> str | None:
    return node.attrs.get(name) if node is not None else None


def extract(body: bytes, url: str) -> list[dict[str, str | None]]:
    """The products on one listing page, with the fields the shop's rules file names."""
    tree = LexborHTMLParser(body)
    products = []
    for item in tree.css("div.product"):
        link = _attr(item.css_first("a.product-link"), "href")
        image = _attr(item.css_first("img.product-image"), "src")
        products.append({
            "url": urljoin(url, link) if link else None,
            "title": _text(item.css_first("h2.product-title")),
            "price": _text(item.css_first("span.price")),
            "sku": item.attrs.get("data-sku"),
            "image": urljoin(url, image) if image else None,
            "availability": _text(item.css_first("span.availability")),
            "page": url,
        })
    return products


async def crawl(urls: list[str], out_path: str) -> int:
    """Fetch and extract every URL; returns how many failed."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    failures = 0
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    with open(out_path, "wb") as out:
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(url: str) -> None:
                nonlocal failures
                try:
                    async with session.get(url) as response:
                        response.raise_for_status()
                        body = await response.read()
                    for product in extract(body, url):
                        out.write(orjson.dumps(product, option=orjson.OPT_APPEND_NEWLINE))
                except (TimeoutError, aiohttp.ClientError) as error:
                    failures += 1
                    print(f"single_process: {url}: {error!r}", file=sys.stderr)
                finally:
                    semaphore.release()

            tasks: set[asyncio.Task] = set()
            for url in urls:
                await semaphore.acquire()
                task = asyncio.create_task(one(url))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
    return failures


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        urls = [line.strip() for line in f if line.strip()]
    return 1 if asyncio.run(crawl(urls, sys.argv[2])) else 0


if __name__ == "__main__":
    sys.exit(main())
