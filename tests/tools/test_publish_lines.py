"""publish's lines: held to the one URL contract, bad bytes refused on their own line, never replaced."""

from __future__ import annotations

import pytest

from stages.core.errors import BadMessage
from stages.tools.publish import parse_line


@pytest.mark.parametrize("spelling", ["http://127.1/", "http://0x7f000001/", "http://2130706433/"])
def test_loopback_spellings_are_published_as_the_address_the_fetcher_will_judge(spelling: str) -> None:
    assert parse_line(spelling.encode() + b"\n") == {"url": "http://127.0.0.1/", "depth": 0, "attempt": 1}


def test_a_url_the_fetcher_would_refuse_is_bad_url_here_too() -> None:
    for line in ("http://example.com/" + "a" * 3_000, "http://example.com/" + "a" * 10_000):
        with pytest.raises(BadMessage) as refused:
            parse_line(line)
        assert refused.value.error_class == "bad_url"
        assert len(str(refused.value)) < 300, "the error echoes the whole URL"


def test_bad_bytes_are_bad_encoding_never_replaced() -> None:
    with pytest.raises(BadMessage) as refused:
        parse_line(b"http://example.com/caf\xe9\n")
    assert refused.value.error_class == "bad_encoding"


def test_credentials_are_stripped_and_the_caller_warned() -> None:
    warned: list[str] = []
    message = parse_line(b'{"url": "http://me:secret@example.com/p"}', on_userinfo=warned.append)
    assert message == {"url": "http://example.com/p", "depth": 0, "attempt": 1}
    assert warned == ["http://example.com/p"]


def test_blank_lines_and_comments_are_skipped() -> None:
    assert parse_line(b"\n") is None
    assert parse_line(b"# seeds\n") is None


def test_utf8_urls_pass_as_their_normal_form() -> None:
    assert parse_line("https://bücher.example/ä\n".encode())["url"] == "https://xn--bcher-kva.example/%C3%A4"


