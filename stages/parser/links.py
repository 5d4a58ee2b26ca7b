"""Resolve the hrefs and srcs found in a page to absolute http(s) URLs.

yarl does the RFC 3986 join and percent-encodes what needs it (spaces,
non-ASCII). It still costs several microseconds per URL, and a listing page
resolves two per product, so the shapes most links take (root-relative
"/p/123?ref=x", scheme-relative "//cdn.example/i.jpg" and absolute
"https://shop.example/p/123", made only of characters that need no encoding,
without dot segments) are joined by string concatenation instead;
tests/parser/test_links.py checks that shortcut against yarl with generated
hrefs.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser
from yarl import URL

_SCHEMES = frozenset({"http", "https"})
# HTML drops tabs and newlines inside URLs (the URL Standard's "remove all ASCII tab or newline").
_DROP = str.maketrans("", "", "\t\n\r")
_SAFE_PATH = r"/(?!/)[A-Za-z0-9._~/=&-]*(?:\?[A-Za-z0-9._~/=&?-]+)?"
_SAFE_HOST = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
_ROOT_RELATIVE = re.compile(_SAFE_PATH)
_SCHEME_RELATIVE = re.compile("//" + _SAFE_HOST + _SAFE_PATH)
_ABSOLUTE = re.compile("https?://" + _SAFE_HOST + _SAFE_PATH)


class LinkResolver:
    """Resolves links against one page's base URL (``<base href>`` if present, else the page URL)."""

    __slots__ = ("base", "_origin", "_scheme")

    def __init__(self, base: URL) -> None:
        self.base = base
        # The shortcut is off for a base with credentials: origin() drops them, a join keeps them.
        self._origin = str(base.origin()) if base.user is None else None
        self._scheme = base.scheme + ":"

    @classmethod
    def for_page(cls, tree: LexborHTMLParser, page_url: str) -> LinkResolver:
        """The resolver for a parsed page: the first ``<base href>``, itself resolved, wins over the page URL."""
        page = cls(URL(page_url))
        node = tree.css_first("base[href]")
        base = page.resolve(node.attrs.get("href")) if node is not None else None
        return cls(URL(base)) if base is not None else page

    def resolve(self, href: str | None) -> str | None:
        """Return `href` as an absolute http(s) URL without fragment, or None if it is empty or not web.

        javascript:, mailto:, tel:, data: and unparseable URLs give None, so
        callers never publish a link the fetcher would refuse anyway.
        """
        if not href:
            return None
        target = href.partition("#")[0]
        if "/." not in target:
            if self._origin is not None and _ROOT_RELATIVE.fullmatch(target):
                return self._origin + target
            if _SCHEME_RELATIVE.fullmatch(target):
                return self._scheme + target
            if _ABSOLUTE.fullmatch(target):
                return target
        target = href.strip().translate(_DROP).partition("#")[0]
        if not target:
            return None
        try:
            url = self.base.join(URL(target))
        except ValueError:
            return None
        if url.scheme not in _SCHEMES or not url.host:
            return None
        return str(url)
