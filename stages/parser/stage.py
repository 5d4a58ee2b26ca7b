"""The parser stage: consumes ``crawl.pages``, produces ``crawl.products`` and followed links.

Step 3 of the data flow in ``stages/__init__.py``. Extraction itself is pure
(``extract.py``); this module turns a page record into product records and
URL messages, and reloads the rules on SIGHUP without losing in-flight work
(a page being parsed keeps the rule set it started with).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import orjson
from yarl import URL

from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, ConfigError
from stages.core.messages import decode_page_headers, encode_url
from stages.core.schemas import validate
from stages.core.seen import BloomFilter
from stages.core.settings import MIB, KafkaConfig, RunnerConfig
from stages.core.stage import Emit, Stage, StageContext
from stages.core.urls import BadUrl, normalize_host
from stages.parser import metrics
from stages.parser.discontinued import NOT_ON_PAGE, discontinued_record, gone_reason, not_on_page
from stages.parser.extract import ExtractedProduct, extract_page
from stages.parser.followed import FollowedPages
from stages.parser.ids import canonical_url
from stages.parser.records import product_record
from stages.parser.rules import RuleSet, SiteRules, load_rules
from stages.parser.settings import ParserConfig
from stages.parser.sitemaps import read_sitemap

log = logging.getLogger("crawlpipe.parser")

CRAWLPIPE_VERSION = version("crawlpipe")
# Measured: a 4 MB listing page of 2,900 products raised RSS by 55 MB while parsed.
PARSE_MEMORY_RATIO = 16
# What one sitemap entry costs while its sitemap is read and its URL messages wait: entry, message, record.
SITEMAP_ENTRY_BYTES = 1024


class ParserStage(Stage):
    name = "parser"
    input = "topic_pages"
    outputs = {"product": "topic_products", "link": "topic_urls"}
    settings = (ParserConfig,)
    # Parsing is serial CPU work: a page is released once parsed, so a few in
    # flight keep the parser busy; its records wait for their acks apart.
    # Its kept heap (--malloc-keep-mb) is faulted back in after every trim: trimmed every second, it cost
    # ~30% more CPU a page under a CPU quota (ops/bench/results/scale-2026-12-02.md).
    runner_defaults = {"max_in_flight": 16, "max_in_flight_bytes": 8 * MIB, "max_unacked_bytes": 4 * MIB,
                       "memory_trim_interval_seconds": 10.0}

    def __init__(self, kafka_config: KafkaConfig, config: ParserConfig) -> None:
        # Topics are core's business: the parser only says which kind each output is.
        self._config = config
        self._rules = self._load_rules()
        self._seen = BloomFilter(config.seen_capacity, config.seen_error_rate)
        self._followed = FollowedPages(kafka_config) if config.follow_links else None

    def memory_bytes(self, runner: RunnerConfig) -> int:
        # One page is parsed at a time; its tree and products cost up to this. A sitemap costs its entries, and
        # up to its decompressed size in one text node (measured: a 512 MiB bomb read to the 50 MiB cap, +55 MB).
        sitemap = self._config.sitemap_max_bytes + SITEMAP_ENTRY_BYTES * self._config.sitemap_max_urls
        return self._seen.size_bytes + max(PARSE_MEMORY_RATIO * self._config.max_page_bytes, sitemap)

    def _load_rules(self) -> RuleSet | None:
        return load_rules(self._config.rules) if self._config.rules else None

    async def start(self, context: StageContext) -> None:
        if self._followed is not None:
            await self._followed.start()
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload_rules)

    async def stop(self) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._followed is not None:
            await self._followed.stop()

    def reload_rules(self) -> None:
        try:
            self._rules = self._load_rules()
        except ConfigError as error:
            log.error("rules not reloaded, keeping the previous ones: %s", error)
            return
        log.info("rules reloaded from %s (version %s)", self._config.rules,
                 self._rules.version if self._rules else "none")

    async def handle(self, envelope: Envelope) -> list[Emit]:
        if len(envelope.value) > self._config.max_page_bytes:
            raise BadMessage(f"page of {len(envelope.value)} bytes is above --max-page-bytes "
                             f"({self._config.max_page_bytes})", error_class="too_large")
        meta = decode_page_headers(envelope)
        url_message: dict[str, Any] = meta["url_message"]
        page_url = meta["final_url"]
        host = URL(page_url).host or ""
        ruleset = self._rules
        rules = ruleset.for_host(host) if ruleset else None
        site = url_message.get("site") or (rules.name if rules else None) or host
        if url_message.get("purpose") == "sitemap":
            return self._sitemap_records(envelope.value, url_message, site=site, rules=rules)
        parser_version = f"{CRAWLPIPE_VERSION}+rules.{ruleset.version}" if ruleset else CRAWLPIPE_VERSION
        fetched_at = datetime.fromisoformat(meta["fetched_at"])
        if reason := gone_reason(url_message, meta["status"]):
            # A recrawl's 404/410: the page is gone, there is nothing to extract.
            return [self._discontinued(url_message, reason, site=site, fetched_at=fetched_at,
                                       parser_version=parser_version)]
        # A page is never worth following back to (pagination links point both ways).
        self._seen.add(canonical_url(url_message["url"]))
        with_links = (self._config.follow_links and url_message["depth"] < self._config.max_depth
                      and not (self._followed and self._followed.followed(envelope)))
        started = time.perf_counter()
        extraction = extract_page(envelope.value, url=page_url, header_charset=meta.get("charset"), rules=rules,
                                  with_links=with_links)
        metrics.parsed(time.perf_counter() - started, len(extraction.products))
        parsed_at = datetime.now(UTC)
        records = [
            self._product_record(product, site=site, page_url=page_url, fetched_at=fetched_at,
                                 parsed_at=parsed_at, parser_version=parser_version)
            for product in extraction.products
        ]
        if not_on_page(url_message, {record.key.decode() for record in records if record.key}):
            records.append(self._discontinued(url_message, NOT_ON_PAGE, site=site, fetched_at=fetched_at,
                                              parser_version=parser_version))
        records += self._link_records(extraction.links, url_message, site=site, host=URL(page_url).raw_host or "",
                                      offsite=bool(rules and rules.follow_offsite))
        return records

    def _product_record(self, product: ExtractedProduct, *, site: str, page_url: str, fetched_at: datetime,
                        parsed_at: datetime, parser_version: str) -> Emit:
        record = product_record(product, site=site, page_url=page_url, fetched_at=fetched_at,
                                parsed_at=parsed_at, parser_version=parser_version)
        value = record.to_json()
        if self._config.validate_output:
            validate("product", orjson.loads(value))
        return Emit("product", value, key=record.id.encode())

    def _discontinued(self, url_message: dict[str, Any], reason: str, *, site: str, fetched_at: datetime,
                      parser_version: str) -> Emit:
        metrics.discontinued(reason)
        product_id = url_message["product"]
        value = discontinued_record(product_id, site=site, url=url_message["url"], reason=reason,
                                    fetched_at=fetched_at, parsed_at=datetime.now(UTC), parser_version=parser_version)
        return Emit("product", value, key=product_id.encode())

    def _sitemap_records(self, body: bytes, url_message: dict[str, Any], *, site: str,
                         rules: SiteRules | None) -> list[Emit]:
        """A sitemap index's sitemaps, or a urlset's page URLs that ``sitemap_follow`` lets through, not seen before."""
        sitemap = read_sitemap(body, max_bytes=self._config.sitemap_max_bytes,
                               max_urls=self._config.sitemap_max_urls)
        kind = "sitemap" if sitemap.is_index else "page"
        common: dict[str, Any] = {name: url_message[name] for name in ("depth", "site", "meta") if name in url_message}
        records, skipped = [], 0
        for entry in sitemap.entries:
            if not (sitemap.is_index or rules is None or rules.follows_sitemap_url(entry.url)):
                continue
            if self._seen.add(canonical_url(entry.url)):
                continue
            message: dict[str, Any] = {**common, "url": entry.url, "attempt": 1}
            if sitemap.is_index:
                message["purpose"] = "sitemap"
            elif entry.lastmod:
                message["lastmod"] = entry.lastmod
            try:
                key, value = encode_url(message)
            except BadMessage:
                skipped += 1  # a URL (or lastmod) outside the contract: the others still count
                continue
            records.append(Emit("link", value, key=key))
        if skipped:
            log.warning("sitemap %s (site %s): %d entries outside the URL contract skipped",
                        url_message["url"], site, skipped)
        metrics.sitemap_urls(kind, len(records))
        return records

    def _link_records(self, links: list[str], url_message: dict[str, Any], *, site: str, host: str,
                      offsite: bool) -> list[Emit]:
        depth = url_message["depth"] + 1
        records = []
        for link in links:
            # The host as the URL contract spells it: http://127.1/ is on 127.0.0.1.
            try:
                link_host = normalize_host(URL(link).raw_host or "")
            except BadUrl:
                continue
            if not offsite and link_host != host:
                continue
            if self._seen.add(canonical_url(link)):
                continue
            try:
                # The one URL contract (core/urls.py): a link the fetcher would refuse is not followed.
                key, value = encode_url({"url": link, "depth": depth, "site": site, "attempt": 1})
            except BadUrl:
                continue
            records.append(Emit("link", value, key=key))
        return records
