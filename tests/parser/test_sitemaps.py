"""Reading sitemaps: urlset and index, gzip by magic bytes, and every hostile document refused within its caps."""

from __future__ import annotations

import gzip

import pytest

from stages.core.errors import BadMessage
from stages.parser.sitemaps import SitemapEntry, read_sitemap

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
URLSET = (f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>'
          "<url><loc> https://shop.example/p/1 </loc><lastmod>2026-11-05T10:00:00Z</lastmod></url>"
          "<url><loc>https://shop.example/p/2</loc><changefreq>daily</changefreq></url>"
          "<url><lastmod>2026-01-01</lastmod></url>"  # no <loc>: nothing to fetch
          "</urlset>").encode()


def read(body: bytes, *, max_bytes: int = 1 << 20, max_urls: int = 100):
    return read_sitemap(body, max_bytes=max_bytes, max_urls=max_urls)


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_urlset_gives_its_urls_with_their_lastmod(packed: bool) -> None:
    sitemap = read(gzip.compress(URLSET) if packed else URLSET)
    assert not sitemap.is_index
    assert sitemap.entries == [SitemapEntry("https://shop.example/p/1", "2026-11-05T10:00:00Z"),
                               SitemapEntry("https://shop.example/p/2", None)]


def test_an_index_gives_its_sitemaps_and_no_namespace_is_read_too() -> None:
    index = b"<sitemapindex><sitemap><loc>https://shop.example/s1.xml.gz</loc></sitemap></sitemapindex>"
    sitemap = read(index)
    assert sitemap.is_index and sitemap.entries == [SitemapEntry("https://shop.example/s1.xml.gz", None)]


def refused(body: bytes, **caps: int) -> BadMessage:
    with pytest.raises(BadMessage) as caught:
        read(body, **caps)
    return caught.value


def test_a_decompression_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * (64 << 20) + b"</urlset>", compresslevel=9)
    assert len(bomb) < 100_000
    error = refused(bomb, max_bytes=1 << 20)
    assert error.error_class == "too_large" and "--sitemap-max-bytes" in str(error)


def test_entity_expansion_and_external_entities_are_refused() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
              b"<urlset><url><loc>&b;</loc></url></urlset>")
    external = (b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<urlset><url><loc>&x;</loc></url></urlset>")
    for body in (laughs, external):
        assert refused(body).error_class == "bad_sitemap"


@pytest.mark.parametrize(("body", "error_class"), [
    (URLSET, "too_large"),  # more URLs than the cap
    (b"x" * 2048, "too_large"),  # a plain document above the byte cap
    (b"<html><body>not a sitemap</body></html>", "bad_sitemap"),
    (b"<urlset><url><loc>https://shop.example/", "bad_sitemap"),
    (b"", "bad_sitemap"),
    (gzip.compress(URLSET)[:40], "bad_sitemap"),  # a gzip stream cut short
])
def test_what_is_no_usable_sitemap_is_refused_with_its_class(body: bytes, error_class: str) -> None:
    assert refused(body, max_bytes=1024, max_urls=1).error_class == error_class
