"""ops/bench/parse: the parser stage's throughput next to a bare selectolax loop over the same pages.

1. Starts a private broker and fills a pages topic with N demo-shop listing
   pages, with the page headers the fetcher writes (no HTTP involved).
2. Runs a real ``crawlpipe parser`` process (shop rules, link following off)
   until its group has committed all N pages. Its rate is N over the time
   between its first and last product record (the producer's timestamps), so
   process start-up and the group join are not counted.
3. Runs the bare loop in this process over the same pages: one
   ``LexborHTMLParser`` per page, the same CSS selectors, one dict per
   product with the record's fields, ``orjson.dumps`` each. Rendering the
   pages is not timed.

Before it, a line with the parser process's CPU seconds (start-up included),
which depends much less on what else the machine runs. Last line:

    parse: crawlpipe_pages_per_s=<x> bare_selectolax_pages_per_s=<y> ratio=<x/y>
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from harness import ROOT, Stages, cpu_seconds, crawlpipe, free_port_pair, kafka_broker, record_span_seconds
from selectolax.lexbor import LexborHTMLParser

from stages.core import kafka
from stages.core.messages import encode_page_headers, utc_now
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.pages import render_listing

# Not contacted: only the URL the page headers name (links resolve against it).
BASE_URL = "http://127.0.0.1:8080"
RULES = ROOT / "stages/demoshop/rules.toml"
CHUNK_PAGES = 200


def page_url(n: int) -> str:
    return f"{BASE_URL}/list/{n}.html"


async def preload(config: KafkaConfig, catalog: Catalog) -> None:
    """Produce every listing page to the pages topic as the fetcher would."""
    producer = kafka.producer(config, client_id="bench-parse-preload")
    await producer.start()
    try:
        for first in range(1, catalog.pages + 1, CHUNK_PAGES):
            pending = []
            for n in range(first, min(first + CHUNK_PAGES, catalog.pages + 1)):
                url = page_url(n)
                headers = encode_page_headers({
                    "url": url, "final_url": url, "status": 200, "content_type": "text/html", "charset": "utf-8",
                    "fetched_at": utc_now(), "url_message": {"url": url, "depth": 0, "attempt": 1},
                })
                pending.append(await producer.send(config.topic_pages, render_listing(catalog, n),
                                                   key=url.encode(), headers=headers))
            await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def wait_for_parser(config: KafkaConfig, process: subprocess.Popen, pages: int, partitions: int,
                          timeout: float, log: Path) -> float:
    """Until the parser group has committed every page (its offsets are the only signal); its CPU seconds."""
    admin = kafka.admin(config, client_id="bench-parse-monitor")
    await admin.start()
    deadline = time.monotonic() + timeout
    tps = [TopicPartition(config.topic_pages, p) for p in range(partitions)]
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"parser exited with {process.returncode}; see {log}")
            try:
                offsets = await admin.list_consumer_group_offsets(config.group("parser"), partitions=tps)
            except GroupCoordinatorNotAvailableError:  # the offsets topic is still being created
                offsets = {}
            done = sum(max(0, meta.offset) for meta in offsets.values())
            if done >= pages:
                return cpu_seconds(process.pid)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the parser committed {done} of {pages} pages in {timeout:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def bare_extract(body: bytes, url: str) -> tuple[list[bytes], str | None]:
    """What selectolax alone costs: the shop's selectors, one dict per product JSON-encoded, the next page."""
    tree = LexborHTMLParser(body.decode("utf-8"))
    encoded = []
    for item in tree.css("div.product"):
        title = item.css_first("h2.product-title")
        price = item.css_first("span.price")
        link = item.css_first("a.product-link")
        image = item.css_first("img.product-image")
        availability = item.css_first("span.availability")
        price_text = price.text() if price else None
        encoded.append(orjson.dumps({
            "id": item.attrs.get("data-sku"),
            "site": "demoshop",
            "url": link.attrs.get("href") if link else None,
            "title": title.text() if title else "",
            "price": price_text,
            "currency": None,
            "price_raw": price_text,
            "price_ok": price_text is not None,
            "availability": availability.text() if availability else None,
            "image": image.attrs.get("src") if image else None,
            "sku": item.attrs.get("data-sku"),
            "page_url": url,
            "fetched_at": None,
            "parsed_at": None,
            "parser_version": None,
            "method": "rules",
        }))
    next_page = tree.css_first("a.next")
    return encoded, next_page.attrs.get("href") if next_page else None


def bare_pages_per_s(catalog: Catalog) -> float:
    seconds = 0.0
    for first in range(1, catalog.pages + 1, CHUNK_PAGES):
        numbers = range(first, min(first + CHUNK_PAGES, catalog.pages + 1))
        pages = [(render_listing(catalog, n), page_url(n)) for n in numbers]
        start = time.perf_counter()
        for body, url in pages:
            bare_extract(body, url)
        seconds += time.perf_counter() - start
    return catalog.pages / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5_000, help="shop pages to parse")
    parser.add_argument("--port", type=int, default=0, help="port of the benchmark's own broker (0: a free one)")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--timeout-seconds", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=ROOT / "ops/bench/out" / f"parse-{int(time.time())}")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(args.pages)

    with kafka_broker(ROOT / "var/bench/parse-kafka", args.port or free_port_pair()) as bootstrap:
        config = KafkaConfig(bootstrap=bootstrap)
        env = {"CRAWLPIPE_BOOTSTRAP": bootstrap, "CRAWLPIPE_RULES": str(RULES), "CRAWLPIPE_FOLLOW_LINKS": "false",
               "CRAWLPIPE_LOG_LEVEL": "INFO"}
        partitions = str(args.partitions)
        crawlpipe("topics", "create", "--urls-partitions", partitions, "--pages-partitions", partitions,
                  "--products-partitions", partitions, env=env)
        print(f"parse: loading {args.pages} pages", file=sys.stderr)
        asyncio.run(preload(config, catalog))
        stages = Stages(env, args.out)
        try:
            cpu = asyncio.run(wait_for_parser(config, stages.start("parser"), args.pages, args.partitions,
                                              args.timeout_seconds, args.out / "parser.log"))
        finally:
            stopped = stages.stop_all()
        if stopped["parser"] != 0:
            raise RuntimeError(f"parser exited with {stopped['parser']}; see {args.out}/parser.log")
        crawlpipe_rate = args.pages / asyncio.run(record_span_seconds(config, config.topic_products))
    bare_rate = bare_pages_per_s(catalog)
    # On a shared machine the wall-clock rate depends on the neighbours; CPU time much less.
    print(f"parse: crawlpipe_parser_cpu_seconds={cpu:.1f} (start-up included) "
          f"crawlpipe_pages_per_cpu_s={args.pages / cpu:.0f}")
    print(f"parse: crawlpipe_pages_per_s={crawlpipe_rate:.0f} bare_selectolax_pages_per_s={bare_rate:.0f} "
          f"ratio={crawlpipe_rate / bare_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
