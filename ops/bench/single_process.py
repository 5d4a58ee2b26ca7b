"""ops/bench/single_process.py URLS_FILE OUT_JSONL --rules RULES: the single-process crawler of ops/bench/e2e.

Written the way a good engineer writes a quick, fast crawler: one aiohttp
session, at most 200 requests in flight (a semaphore taken before each task
is created, so 20,000 URLs never become 20,000 pending coroutines), parsing
on the event loop (with one process there is nowhere else for it to run),
products appended to a JSON-lines file.

A fair baseline: it gets the tuning crawlpipe's stages get (uvloop, the
parser's kept malloc heap, start-up objects frozen out of the cycle
collector) and does crawlpipe's extraction: ``extract_page`` with the same
rules file and ``product_record`` (prices as decimals, stable ids), writing
the same JSON line per product as the sink's JSON-lines storage. It has none
of crawlpipe's guarantees (no retries, no robots.txt, no politeness, no
resume after a crash). ops/bench/e2e also runs it as N processes over N
shards of the URL list, so that it can use the machine's cores as crawlpipe's
processes do.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

import aiohttp
import uvloop
from yarl import URL

from stages.core.memory import keep_freed_heap, pace_collector
from stages.core.settings import MIB, RunnerConfig
from stages.parser.extract import extract_page
from stages.parser.records import product_record
from stages.parser.rules import RuleSet, load_rules
from stages.parser.stage import CRAWLPIPE_VERSION

CONCURRENCY = 200


def records(body: bytes, url: str, charset: str | None, ruleset: RuleSet, fetched_at: datetime) -> bytes:
    """The JSON lines of one page's products, as the parser would publish them."""
    host = URL(url).host or ""
    rules = ruleset.for_host(host)
    extraction = extract_page(body, url=url, header_charset=charset, rules=rules, with_links=False)
    site = rules.name if rules else host
    parsed_at = datetime.now(UTC)
    version = f"{CRAWLPIPE_VERSION}+rules.{ruleset.version}"
    return b"".join(
        product_record(product, site=site, page_url=url, fetched_at=fetched_at, parsed_at=parsed_at,
                       parser_version=version).to_json() + b"\n"
        for product in extraction.products
    )


async def crawl(urls: list[str], out_path: str, ruleset: RuleSet) -> int:
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
                        final_url, charset = str(response.url), response.charset
                    out.write(records(body, final_url, charset, ruleset, datetime.now(UTC)))
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls_file")
    parser.add_argument("out_jsonl")
    parser.add_argument("--rules", required=True, help="the rules file crawlpipe's parser gets")
    args = parser.parse_args()
    with open(args.urls_file) as f:
        urls = [line.strip() for line in f if line.strip()]
    ruleset = load_rules(args.rules)
    # The parser stage's defaults: the same kept heap, the same collector pace.
    runner = RunnerConfig()
    keep_freed_heap(runner.malloc_keep_mb * MIB)
    pace_collector(runner.gc_young_threshold)
    return 1 if uvloop.run(crawl(urls, args.out_jsonl, ruleset)) else 0


if __name__ == "__main__":
    sys.exit(main())
