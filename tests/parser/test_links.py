"""Resolving hrefs: absolute http(s), no fragment, and a string shortcut that must agree with yarl."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser
from yarl import URL

from stages.parser.links import LinkResolver

PAGE = "https://shop.example.com:8443/c/kettles/?page=2"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("/p/1?ref=list#reviews", "https://shop.example.com:8443/p/1?ref=list"),
        ("p/2", "https://shop.example.com:8443/c/kettles/p/2"),
        ("../teapots", "https://shop.example.com:8443/c/teapots"),
        ("?page=3", "https://shop.example.com:8443/c/kettles/?page=3"),
        ("//cdn.example.com/i.jpg", "https://cdn.example.com/i.jpg"),
        ("HTTP://Other.Example/X", "http://other.example/X"),
        ("  /trimmed \n", "https://shop.example.com:8443/trimmed"),
        ("/caf\u00e9 menu", "https://shop.example.com:8443/caf%C3%A9%20menu"),
        ("#top", None),
        ("", None),
        (None, None),
        ("javascript:void(0)", None),
        ("mailto:shop@example.com", None),
        ("tel:+123", None),
        ("data:image/gif;base64,R0lGOD", None),
        ("http://[not-an-address", None),
    ],
)
def test_resolve(href: str | None, expected: str | None) -> None:
    assert LinkResolver(URL(PAGE)).resolve(href) == expected


def test_base_href_is_resolved_against_the_page_and_then_used() -> None:
    tree = LexborHTMLParser('<head><base href="/shop/"></head><body><base href="/ignored/"></body>')
    assert LinkResolver.for_page(tree, PAGE).resolve("p/1") == "https://shop.example.com:8443/shop/p/1"


def test_a_base_with_credentials_keeps_them() -> None:
    resolver = LinkResolver(URL("https://user:pw@shop.example.com/c/"))
    assert resolver.resolve("/p/1") == "https://user:pw@shop.example.com/p/1"


_href_chars = st.sampled_from(list("abcXYZ019-._~/?=&#%+: @!") + ["..", "./", "é", "//"])
_hrefs = st.lists(_href_chars, max_size=14).map("".join)
_prefixes = st.sampled_from(["/", "//cdn.example.com/", "https://shop.example.com/", "http://a-b.example/", ""])
_bases = st.sampled_from([PAGE, "http://127.0.0.1:8080/list/1.html", "https://example.com", "https://ex.com/a/b?c=d"])


@settings(max_examples=1000)
@given(base=_bases, prefix=_prefixes, rest=_hrefs)
def test_the_string_shortcut_agrees_with_yarl(base: str, prefix: str, rest: str) -> None:
    href = prefix + rest
    resolver = LinkResolver(URL(base))
    target = href.strip().partition("#")[0]
    try:
        url = URL(base).join(URL(target)) if target else None
    except ValueError:
        url = None
    expected = str(url) if url is not None and url.scheme in ("http", "https") and url.host else None
    assert resolver.resolve(href) == expected
