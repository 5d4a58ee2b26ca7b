"""The parser stage's settings: rules, link following and its memory-fixed filter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.core.settings import MIB, require, setting


@dataclass(frozen=True, kw_only=True)
class ParserConfig:
    """Extraction rules and link following."""

    rules: Path | None = setting(None, "site rules file (TOML); none = generic extraction only")
    max_page_bytes: int = setting(8 * MIB, "larger pages go to the DLQ as too_large: a parse tree costs "
                                           "up to ~16 times the page in memory")
    follow_links: bool = setting(True, "publish next-page and product links to the URL topic")
    max_depth: int = setting(3, "deepest link depth published (a published seed has depth 0)")
    seen_capacity: int = setting(1_000_000, "URLs the followed-link filter is sized for")
    seen_error_rate: float = setting(0.001, "false-positive rate of that filter at capacity")
    sitemap_max_bytes: int = setting(50 * MIB, "a sitemap that is (or decompresses to) more goes to the DLQ as "
                                               "too_large; the sitemaps protocol allows 50 MB")
    sitemap_max_urls: int = setting(50_000, "a sitemap listing more URLs goes to the DLQ as too_large; the "
                                            "sitemaps protocol allows 50,000")
    validate_output: bool = setting(
        False, "validate every product record against schemas/product.schema.json before publishing it (a "
               "debugging aid: a record is typed by construction, and the sink validates what it reads)"
    )

    def __post_init__(self) -> None:
        require(self.max_page_bytes >= 1, "max_page_bytes", self.max_page_bytes, "must be positive")
        require(self.sitemap_max_bytes >= 1, "sitemap_max_bytes", self.sitemap_max_bytes, "must be positive")
        require(self.sitemap_max_urls >= 1, "sitemap_max_urls", self.sitemap_max_urls, "must be at least 1")
        require(self.max_depth >= 0, "max_depth", self.max_depth, "must be 0 or more")
        require(self.seen_capacity >= 1, "seen_capacity", self.seen_capacity, "must be at least 1")
        require(0 < self.seen_error_rate < 1, "seen_error_rate", self.seen_error_rate, "must be between 0 and 1")
