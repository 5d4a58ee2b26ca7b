"""What the fetcher does for a URL message's ``purpose`` (docs/discovery.md) beyond fetching a page.

- "discover" (a seed: a shop's home page or its robots.txt): the ``Sitemap:``
  lines of the host's robots.txt (already fetched and cached for politeness)
  become "sitemap" URL messages, same site and depth; a seed that is not the
  robots.txt itself goes back to the URL topic as an ordinary page, so its
  fetch has the retries and politeness of any page.
- "sitemap": fetched like a page whatever its Content-Type (XML, gzip); the
  parser reads it.
- "recrawl": a 404 or 410 is an answer, not a failure: it becomes a page with
  that status and an empty body, which the parser turns into a discontinued
  record.
"""

from __future__ import annotations

from typing import Any

from yarl import URL

DISCOVER = "discover"
SITEMAP = "sitemap"
RECRAWL = "recrawl"
# The answers that tell a recrawl its product is gone.
GONE_STATUSES = frozenset({404, 410})
# What a message found by discovery inherits from its seed.
_INHERITED = ("depth", "site", "meta")


def purpose(message: dict[str, Any]) -> str:
    return str(message.get("purpose", "page"))


def discovered(seed: dict[str, Any], sitemaps: list[str]) -> list[dict[str, Any]]:
    """The URL messages a "discover" ``seed`` yields: one "sitemap" per Sitemap line, then the seed as a page."""
    inherited = {name: seed[name] for name in _INHERITED if name in seed}
    found = [{**inherited, "url": url, "attempt": 1, "purpose": SITEMAP} for url in dict.fromkeys(sitemaps)]
    if URL(seed["url"]).path != "/robots.txt":
        found.append({**inherited, "url": seed["url"], "attempt": 1})
    return found


def is_gone(message: dict[str, Any], status: int) -> bool:
    """Whether ``status`` answers a recrawl with "the product is gone" (a page, not a DLQ record)."""
    return purpose(message) == RECRAWL and status in GONE_STATUSES
