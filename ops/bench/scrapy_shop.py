"""ops/bench/scrapy_shop.py URLS_FILE OUT_JSONL: Scrapy over the shop, as ops/bench/e2e runs it (in .cache/bench-venv).

Scrapy is only installed into the benchmark's own venv, never the project's.
Settings are what a user tuning Scrapy for one fast host would choose:
CONCURRENT_REQUESTS=200 and the same per domain (the default of 8 per domain
would hold the 200 back on a one-host crawl), no download delay, no
AutoThrottle, robots.txt not fetched (crawlpipe fetches it, the single-process
crawler does not; one request either way), LOG_LEVEL=WARNING. Extraction uses
the CSS selectors of stages/demoshop/rules.toml; text is the element's joined
text nodes, as crawlpipe's parser reads it. A page without listing items (the
``detail`` shape's product pages) gives its schema.org Product JSON-LD, the
way a Scrapy user reads a product page.
"""

from __future__ import annotations

import json
import sys

import scrapy
from scrapy.crawler import CrawlerProcess


def _text(selection: scrapy.selector.SelectorList) -> str | None:
    text = " ".join("".join(selection.css("::text").getall()).split())
    return text or None


class ShopSpider(scrapy.Spider):
    name = "shop"

    def __init__(self, urls_file: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.urls_file = urls_file

    async def start(self):
        with open(self.urls_file) as f:
            for line in f:
                if line.strip():
                    yield scrapy.Request(line.strip(), dont_filter=True)

    def parse(self, response):
        items = response.css("div.product")
        if not items:
            yield from self.parse_json_ld(response)
        for item in items:
            link = item.css("a.product-link::attr(href)").get()
            image = item.css("img.product-image::attr(src)").get()
            yield {
                "url": response.urljoin(link) if link else None,
                "title": _text(item.css("h2.product-title")),
                "price": _text(item.css("span.price")),
                "sku": item.attrib.get("data-sku"),
                "image": response.urljoin(image) if image else None,
                "availability": _text(item.css("span.availability")),
                "page": response.url,
            }

    def parse_json_ld(self, response):
        for block in response.css('script[type="application/ld+json"]::text').getall():
            data = json.loads(block)
            if data.get("@type") != "Product":
                continue
            offers = data.get("offers") or {}
            image = data.get("image")
            yield {
                "url": response.urljoin(data.get("url") or response.url),
                "title": data.get("name"),
                "price": offers.get("price"),
                "currency": offers.get("priceCurrency"),
                "sku": data.get("sku"),
                "image": response.urljoin(image[0] if isinstance(image, list) else image) if image else None,
                "availability": offers.get("availability"),
                "page": response.url,
            }


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": 200,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 200,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
        "FEEDS": {sys.argv[2]: {"format": "jsonlines", "encoding": "utf-8", "overwrite": True}},
    })
    crawler = process.create_crawler(ShopSpider)
    process.crawl(crawler, urls_file=sys.argv[1])
    process.start()
    stats = crawler.stats.get_stats()
    errors = stats.get("log_count/ERROR", 0) + stats.get("downloader/exception_count", 0)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
