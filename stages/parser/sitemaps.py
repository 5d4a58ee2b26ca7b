"""Reading a sitemap (sitemaps.org protocol): the URLs of a ``<urlset>``, or the sitemaps of a ``<sitemapindex>``.

Why a module of its own: a sitemap is untrusted XML, often gzip, often far
larger than a page. It is read as a stream, never as a tree:

- gzip is recognised by its magic bytes (not by the URL's ``.gz``) and
  decompressed in chunks, the output capped at ``--sitemap-max-bytes``: a
  decompression bomb stops at the cap, as ``too_large``;
- the XML goes through defusedxml's ``iterparse`` with DTDs forbidden, so no
  entity can expand and no external resource is read (``bad_sitemap``);
- each ``<url>``/``<sitemap>`` element is cleared once read, and at most
  ``--sitemap-max-urls`` entries are kept (the protocol allows 50,000), so
  memory is bounded by the settings, not by the document.

The stage (``stage.py``) turns the entries into URL messages: docs/discovery.md.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree

from stages.core.errors import BadMessage

GZIP_MAGIC = b"\x1f\x8b"
BAD_SITEMAP = "bad_sitemap"
TOO_LARGE = "too_large"
_NAMESPACE = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    """One ``<loc>`` of a sitemap, with its ``<lastmod>`` as given (W3C datetime) if it has one."""

    url: str
    lastmod: str | None


@dataclass(frozen=True, slots=True)
class Sitemap:
    """What one sitemap document lists: page URLs (a ``<urlset>``) or sitemap URLs (a ``<sitemapindex>``)."""

    is_index: bool
    entries: list[SitemapEntry]


def read_sitemap(body: bytes, *, max_bytes: int, max_urls: int) -> Sitemap:
    """The entries of the sitemap in ``body`` (gzip or not); raise ``BadMessage`` for a bomb or bad XML."""
    source = _CappedGunzip(body, max_bytes) if body.startswith(GZIP_MAGIC) else io.BytesIO(body)
    if len(body) > max_bytes and not body.startswith(GZIP_MAGIC):
        raise BadMessage(f"sitemap of {len(body)} bytes is above --sitemap-max-bytes ({max_bytes})",
                         error_class=TOO_LARGE)
    try:
        return _entries(defusedxml.ElementTree.iterparse(source, events=("start", "end"), forbid_dtd=True),
                        max_urls)
    except (ParseError, defusedxml.DefusedXmlException) as exc:
        raise BadMessage(f"sitemap refused: {type(exc).__name__}: {exc}", error_class=BAD_SITEMAP) from exc
    except (zlib.error, EOFError) as exc:
        raise BadMessage(f"sitemap: broken gzip: {exc}", error_class=BAD_SITEMAP) from exc


def _entries(events: Iterator[tuple[str, object]], max_urls: int) -> Sitemap:
    """Walk the parse events: the root says which kind it is, each closed entry is kept and cleared."""
    root = None
    is_index = False
    entries: list[SitemapEntry] = []
    loc: str | None = None
    lastmod: str | None = None
    for event, element in events:
        tag = _local(element.tag)  # type: ignore[attr-defined]
        if root is None:
            if tag not in ("urlset", "sitemapindex"):
                raise BadMessage(f"not a sitemap: the root element is <{tag}>", error_class=BAD_SITEMAP)
            root, is_index = element, tag == "sitemapindex"
            continue
        if event != "end":
            continue
        if tag == "loc":
            loc = (element.text or "").strip()  # type: ignore[attr-defined]
        elif tag == "lastmod":
            lastmod = (element.text or "").strip() or None  # type: ignore[attr-defined]
        elif tag in ("url", "sitemap"):
            if loc:
                if len(entries) >= max_urls:
                    raise BadMessage(f"sitemap lists more than --sitemap-max-urls ({max_urls}) URLs",
                                     error_class=TOO_LARGE)
                entries.append(SitemapEntry(loc, lastmod))
            loc = lastmod = None
            # Read entries leave the tree: memory holds one entry's elements, not the document's.
            root.clear()  # type: ignore[attr-defined]
    if root is None:
        raise BadMessage("empty sitemap", error_class=BAD_SITEMAP)
    return Sitemap(is_index, entries)


def _local(tag: str) -> str:
    """The tag without the sitemap namespace (documents without one are read too)."""
    return tag[len(_NAMESPACE):] if tag.startswith(_NAMESPACE) else tag


class _CappedGunzip(io.RawIOBase):
    """A readable stream of the gzip ``body`` decompressed, that refuses to yield more than ``max_bytes``."""

    def __init__(self, body: bytes, max_bytes: int) -> None:
        self._input = memoryview(body)
        self._max_bytes = max_bytes
        self._produced = 0
        # 16 + MAX_WBITS: a gzip header and trailer around the deflate stream.
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), _CHUNK_BYTES)
        chunk = b""
        while not chunk and not self._decompressor.eof:
            pending = self._decompressor.unconsumed_tail or self._take_input()
            if not pending:
                raise EOFError("the gzip stream ends before its end marker")
            chunk = self._decompressor.decompress(pending, wanted)
        self._produced += len(chunk)
        if self._produced > self._max_bytes:
            raise BadMessage(f"gzip sitemap decompresses to more than --sitemap-max-bytes ({self._max_bytes})",
                             error_class=TOO_LARGE)
        buffer[:len(chunk)] = chunk
        return len(chunk)

    def _take_input(self) -> bytes:
        taken, self._input = self._input[:_CHUNK_BYTES], self._input[_CHUNK_BYTES:]
        return bytes(taken)
