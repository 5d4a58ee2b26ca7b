"""Micro-benchmark: extract_page on a ~60 KB category page with 40 products.

Not a test. Prints the time per page for building the tree alone, for the
whole extract_page call, and for what the stage adds per page (a product id
per product, a canonical URL per link). glibc's malloc thresholds change the
figures a lot (see DESIGN.md, "Measured facts"), so compare runs like:

    /tmp/venv/bin/python -m tests.parser.bench_extract [--pages 2000]
    MALLOC_TRIM_THRESHOLD_=10000000 MALLOC_TOP_PAD_=10000000 MALLOC_MMAP_THRESHOLD_=10000000 \\
        /tmp/venv/bin/python -m tests.parser.bench_extract
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from selectolax.lexbor import LexborHTMLParser

from stages.parser.extract import Extraction, extract_page
from stages.parser.ids import canonical_url, product_id
from stages.parser.rules import load_rules
from tests.parser import FIXTURES
from tests.parser.listing_page import listing_page

URL = "https://www.example.com/c/widgets?page=2"


def per_page_us(work: Callable[[], object], pages: int) -> tuple[float, float]:
    """(best, median) microseconds per call over rounds of 50 calls: the best is the least disturbed."""
    rounds = []
    for _ in range(max(1, pages // 50)):
        start = time.perf_counter()
        for _ in range(50):
            work()
        rounds.append((time.perf_counter() - start) / 50 * 1e6)
    return min(rounds), statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    pages = parser.parse_args().pages
    body = listing_page()
    rules = load_rules(FIXTURES / "rules" / "bench.toml").sites[0]
    text = body.decode()

    def extract() -> Extraction:
        return extract_page(body, url=URL, header_charset="utf-8", rules=rules)

    def extract_and_key() -> object:
        extraction = extract()
        ids = [product_id("bench", p.url or URL, p.sku) for p in extraction.products]
        return ids, [canonical_url(link) for link in extraction.links]

    products = len(extract().products)
    print(f"page: {len(body) / 1024:.1f} KiB, {products} products, {pages} pages per figure")
    for name, work in (("tree only", lambda: LexborHTMLParser(text)), ("extract_page", extract),
                       ("extract_page + ids", extract_and_key)):
        best, median = per_page_us(work, pages)
        print(f"{name:20s} best {best:7.0f} us/page   median {median:7.0f} us/page")


if __name__ == "__main__":
    main()
