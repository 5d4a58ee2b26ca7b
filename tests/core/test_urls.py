"""normalize_url: the one URL contract of publish, fetcher and parser (stages/core/urls.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from stages.core.urls import MAX_URL_LENGTH, BadUrl, normalize_url

pytestmark = pytest.mark.timeout(30)

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "url.schema.json"


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
        "http://a..b/",
        "http://256.256.256.256/",
        "http://1.2.3.4.5/",
        "http://4294967296/",
        "http://0x1g.0.0.1/",
        "http://08.0.0.1/",
        "http://%zz/",
        "http://example.com/" + "a" * MAX_URL_LENGTH,
    ],
)
def test_bad_url_is_refused_as_bad_url(url: str) -> None:
    with pytest.raises(BadUrl) as caught:
        normalize_url(url)
    assert caught.value.error_class == "bad_url"
    assert caught.value.retriable is False


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("http://127.1/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://0x7f.0.0.1/", "127.0.0.1"),
        ("http://127.0.1/", "127.0.0.1"),
        ("http://127.0.0.1./", "127.0.0.1"),
        ("http://%31%32%37.0.0.1/", "127.0.0.1"),
        ("http://10.1/", "10.0.0.1"),
        ("http://0/", "0.0.0.0"),
    ],
)
def test_every_ipv4_spelling_becomes_its_dotted_quad(spelling: str, address: str) -> None:
    assert URL(normalize_url(spelling)).raw_host == address


def test_url_is_normalised_and_userinfo_is_stripped_with_a_warning() -> None:
    warned: list[str] = []
    url = normalize_url("HTTP://user:secret@Shop.Example.COM:80/Item?id=1#reviews", on_userinfo=warned.append)
    assert url == "http://shop.example.com/Item?id=1"
    assert warned == [url]
    assert "secret" not in url


def test_no_warning_without_userinfo() -> None:
    warned: list[str] = []
    normalize_url("http://example.com/", on_userinfo=warned.append)
    assert warned == []


def test_international_host_becomes_punycode_and_the_path_is_percent_encoded() -> None:
    assert normalize_url("https://BÜCHER.example/a b?q=ä") == "https://xn--bcher-kva.example/a%20b?q=%C3%A4"


def test_spaces_tabs_and_newlines_around_and_inside_are_dropped() -> None:
    assert normalize_url(" \thttp://exa\nmple.com/p\r\n") == "http://example.com/p"


def test_one_maximum_length_for_raw_and_normalised_forms() -> None:
    fits = "http://example.com/" + "a" * (MAX_URL_LENGTH - len("http://example.com/"))
    assert normalize_url(fits) == fits
    with pytest.raises(BadUrl, match="above the limit of 2048"):
        normalize_url(fits + "a")
    # Within the limit as given, past it once percent-encoded.
    grows = "http://example.com/" + "ä" * (MAX_URL_LENGTH // 2)
    with pytest.raises(BadUrl, match="once normalised"):
        normalize_url(grows)


def test_the_error_of_a_huge_url_is_short() -> None:
    with pytest.raises(BadUrl) as caught:
        normalize_url("http://example.com/" + "a" * 10_000)
    assert len(str(caught.value)) < 300


def test_url_schema_limit_agrees_with_the_contract() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["properties"]["url"]["maxLength"] == MAX_URL_LENGTH


@given(st.text(max_size=300))
def test_any_text_is_either_a_normal_url_or_bad_url(text: str) -> None:
    try:
        url = normalize_url(text)
    except BadUrl as exc:
        assert exc.error_class == "bad_url"
    else:
        parsed = URL(url)
        assert parsed.scheme in ("http", "https")
        assert parsed.raw_host
        assert not parsed.raw_fragment
        assert parsed.user is None
        assert len(url) <= MAX_URL_LENGTH
        assert normalize_url(url) == url, "normalising twice changes nothing"


@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}\.[a-z]{2,6}", fullmatch=True),
    st.from_regex(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,11}){0,4}", fullmatch=True),  # no dot segments
)
def test_plain_web_urls_pass_unchanged(scheme: str, host: str, path: str) -> None:
    url = f"{scheme}://{host}{path or '/'}"
    assert normalize_url(url) == url
