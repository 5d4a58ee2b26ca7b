"""``crawlpipe parse``: what the parser stage would make of one saved page, and where each value came from.

The checker Scrapy calls ``parse`` and Nutch ``parsechecker``: reads one page
(plain or gzip-compressed, from a file or stdin), runs the parser stage's
extraction on it (``extract_page`` with the site's rules if a rules file names
the host, and the stage's record builder), and prints the product records with
the method and selector behind each field. Nothing is fetched or produced.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from yarl import URL

from stages.core.errors import BadMessage
from stages.parser.extract import ExtractedProduct, Extraction, extract_page
from stages.parser.records import product_record
from stages.parser.rules import FieldSpec, RuleSet, SiteRules
from stages.parser.stage import CRAWLPIPE_VERSION

_GZIP_MAGIC = b"\x1f\x8b"
# Record fields shown in the table, in this order, with the extraction field that explains each.
_SHOWN = (("title", "title"), ("price", "price"), ("currency", "currency"), ("regular_price", "regular_price"),
          ("availability", "availability"), ("sku", "sku"), ("gtin", "gtin"), ("mpn", "mpn"), ("brand", "brand"),
          ("image", "image"), ("url", "url"))


@dataclass(frozen=True, slots=True)
class ParsedProduct:
    """One record as the stage would publish it, and how each of its fields was found."""

    record: dict[str, Any]
    sources: dict[str, str]


def read_page(data: bytes) -> bytes:
    """The page body, decompressed if it is gzip (a saved ``.html.gz``)."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise BadMessage(f"the page looks gzip-compressed but is not: {error}", error_class="bad_gzip") from error


def parse_page(body: bytes, *, url: str, rules: RuleSet | None, charset: str | None = None
               ) -> tuple[Extraction, list[ParsedProduct]]:
    """Extract `body`, fetched from `url`, exactly as the parser stage does; records and their sources."""
    host = URL(url).host or ""
    site_rules = rules.for_host(host) if rules is not None else None
    extraction = extract_page(body, url=url, header_charset=charset, rules=site_rules, with_links=True)
    site = site_rules.name if site_rules is not None else host
    version = f"{CRAWLPIPE_VERSION}+rules.{rules.version}" if rules is not None else CRAWLPIPE_VERSION
    now = datetime.now(UTC)
    parsed = [
        ParsedProduct(
            record=orjson.loads(product_record(product, site=site, page_url=url, fetched_at=now, parsed_at=now,
                                               parser_version=version).to_json()),
            sources=_sources(product, site_rules),
        )
        for product in extraction.products
    ]
    return extraction, parsed


def _sources(product: ExtractedProduct, rules: SiteRules | None) -> dict[str, str]:
    """Per field: the visible extractor's or merge rule's explanation, the rule's selector, or the method."""
    explained = dict(product.sources)
    sources = {}
    for field, _ in _SHOWN:
        if field in explained:
            sources[field] = explained[field]
        elif product.method == "rules" and rules is not None:
            spec = getattr(rules, "link" if field == "url" else field, None)
            sources[field] = f"rules: {_selector(rules, spec)}" if isinstance(spec, FieldSpec) else "rules"
        else:
            sources[field] = product.method
    return sources


def _selector(rules: SiteRules, spec: FieldSpec) -> str:
    where = f"{rules.item} {spec.css}" if spec.css else f"{rules.item}"
    return f"{where}@{spec.attr}" if spec.attr else where


def table(extraction: Extraction, parsed: list[ParsedProduct]) -> Iterator[str]:
    """Readable lines: each product's fields with their values and sources, then a summary."""
    for number, product in enumerate(parsed, start=1):
        record = product.record
        yield f"product {number} of {len(parsed)}: id {record['id']} (method {record['method']})"
        for field, _ in _SHOWN:
            value = record.get(field)
            if value is None or value == "":
                continue
            yield f"  {field:<14} {_short(str(value)):<48} {product.sources.get(field, '')}"
    yield (f"{len(parsed)} products, {len(extraction.links)} links to follow, encoding {extraction.encoding}, "
           f"{extraction.structured_errors} broken JSON-LD blocks, {extraction.products_skipped} products skipped "
           f"(no URL or SKU)")


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
