"""Canonical URLs and product ids: stable across runs, distinct across sites and kinds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from w3lib.url import canonicalize_url

from stages.parser.ids import canonical_url, product_id


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://shop.example/p/1?b=2&a=1#reviews", "https://shop.example/p/1?a=1&b=2"),
        ("HTTPS://Shop.Example/p/1", "https://shop.example/p/1"),
        ("https://shop.example", "https://shop.example/"),
        ("https://shop.example/a/../p/%7e1?q=a%20b", "https://shop.example/p/~1?q=a+b"),
        ("https://shop.example/p/1?ref=list", "https://shop.example/p/1?ref=list"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


_parts = st.sampled_from(list("abzAZ09-._~/?=&#%+;:@ ") + ["..", "./", "é", "/a", "?a=1", "&b=", "xn--"])
_hosts = st.sampled_from(["shop.example", "Shop.Example", "127.0.0.1", "a-b.example:8080", "ex.com:0080", "x.", "a..b"])


@settings(max_examples=1000)
@given(scheme=st.sampled_from(["http", "https", "HTTP"]), host=_hosts, rest=st.lists(_parts, max_size=12).map("".join))
def test_the_already_canonical_shortcut_agrees_with_w3lib(scheme: str, host: str, rest: str) -> None:
    url = f"{scheme}://{host}/{rest}"
    assert canonical_url(url) == canonicalize_url(url, keep_fragments=False)


def test_product_ids_are_stable_across_runs() -> None:
    # Literal values: a change here re-keys every product in every sink.
    assert product_id("shop", "https://shop.example/p/1", "K-100") == "sf0c4a3d7769338e0646006d8"
    assert product_id("shop", "https://shop.example/p/1", None) == "u63e8d3af7be16360c1f647f5"


def test_product_ids_distinguish_site_kind_and_value() -> None:
    ids = {
        product_id("shop", "https://shop.example/p/1", "K-100"),
        product_id("other", "https://shop.example/p/1", "K-100"),
        product_id("shop", "https://shop.example/p/1", "K-101"),
        product_id("shop", "https://shop.example/p/1", None),
        product_id("shop", "https://shop.example/p/2", None),
        product_id("shop", "K-100", None),  # a URL equal to a SKU is still another kind
    }
    assert len(ids) == 6


def test_product_ids_ignore_what_does_not_identify_the_product() -> None:
    assert product_id("shop", "https://a.example/x", " K-100 ") == product_id("shop", "https://b.example/y", "K-100")
    assert product_id("shop", "https://shop.example/p/1?b=2&a=1#top", "") == product_id(
        "shop", "https://shop.example/p/1?a=1&b=2", None)


def test_product_ids_are_short_hex_with_a_kind_prefix() -> None:
    pid = product_id("shop", "https://shop.example/p/1", None)
    assert len(pid) == 25 and pid[0] == "u" and int(pid[1:], 16) >= 0
