"""crawlpipe: a web-crawling pipeline for product data, one OS process per stage.

The data flow, once:

1. A user publishes URL messages to ``crawl.urls`` (``crawlpipe publish``),
   keyed by host so that one host's URLs share a partition.
2. The fetcher consumes ``crawl.urls``, downloads each URL politely with one
   shared ``aiohttp`` session, and produces the raw body to ``crawl.pages``
   (metadata in record headers). Failures go to ``crawl.dlq``.
3. The parser consumes ``crawl.pages``, decodes and parses each page with
   selectolax, and produces product records to ``crawl.products`` and
   followed links back to ``crawl.urls``. Failures go to ``crawl.dlq``.
   A URL message's ``purpose`` adds discovery: a seed's robots.txt
   ``Sitemap:`` lines, then its sitemaps, become URL messages, and a recrawl
   that finds a product gone gives a discontinued record (docs/discovery.md).
4. The sink consumes ``crawl.products`` and upserts them in batches into
   storage (SQLite, PostgreSQL or JSON lines) by product id.
5. Every stage is one class with a ``handle`` that turns one input message
   into outputs (``stages.core.stage``); the shared loop (``stages.core``)
   produces them, bounds the messages being processed and the outputs
   awaiting acknowledgement, and commits an input offset only after
   everything derived from it was acknowledged (by Kafka, or by the database
   for the sink).
6. ``crawl.pages`` keeps the raw HTML: ``crawlpipe replay`` re-parses it with
   new rules without fetching anything again.

docs/architecture.md holds the same list with the rest of the design: the
stage/core seam, topics and message contracts, the guarantees and why they
hold, the memory model.
"""
