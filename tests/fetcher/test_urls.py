"""validate_url: only absolute http(s) URLs with a real host get through, normalised."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stages.core.errors import BadMessage
from stages.fetcher.urls import validate_url

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "javascript:alert(1)",
        "data:text/html,<p>hi</p>",
        "mailto:someone@example.com",
        "//example.com/relative",
        "/just/a/path",
        "http:///no-host",
        "http://",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://[not-ipv6]/",
        "http://2130706433/",
        "http://127.1/",
        "http://0x7f.0.0.1/",
        "http://example.com/" + "a" * 10_000,
    ],
)
def test_bad_url_is_refused(url: str) -> None:
    with pytest.raises(BadMessage) as caught:
        validate_url(url, 2048)
    assert caught.value.error_class == "bad_url"
    assert caught.value.retriable is False


def test_url_is_normalised() -> None:
    url = validate_url("HTTP://user:secret@Shop.Example.COM:80/Item?id=1#reviews", 2048)
    assert str(url) == "http://shop.example.com/Item?id=1"


def test_international_host_is_kept_as_punycode() -> None:
    assert validate_url("https://bücher.example/", 2048).raw_host == "xn--bcher-kva.example"


def test_length_limit_is_the_configured_one() -> None:
    url = "http://example.com/" + "a" * 100
    assert validate_url(url, len(url)).host == "example.com"
    with pytest.raises(BadMessage, match="max_url_length=100"):
        validate_url(url, 100)


@given(st.text(max_size=300))
def test_any_text_is_either_a_fetchable_url_or_bad_url(text: str) -> None:
    try:
        url = validate_url(text, 2048)
    except BadMessage as exc:
        assert exc.error_class == "bad_url"
    else:
        assert url.scheme in ("http", "https")
        assert url.raw_host
        assert not url.raw_fragment
        assert url.user is None


@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}\.[a-z]{2,6}", fullmatch=True),
    st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,4}", fullmatch=True),
)
def test_plain_web_urls_pass_unchanged(scheme: str, host: str, path: str) -> None:
    url = f"{scheme}://{host}{path or '/'}"
    assert str(validate_url(url, 2048)) == url
