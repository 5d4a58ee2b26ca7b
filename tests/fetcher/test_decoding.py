"""Content-Encoding decoders: correct output, and never more than the budget."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from stages.core.errors import BadMessage
from stages.fetcher.decoding import decoder_for

pytestmark = pytest.mark.timeout(10)

TEXT = b"<html>" + b"caf\xc3\xa9 product " * 2000 + b"</html>"

ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: brotli.compress(data, quality=5),
}


def feed(encoding: str | None, data: bytes, budget: int, chunk_bytes: int = 1000) -> bytes:
    """Feed ``data`` in chunks like a socket would, tracking the budget like body.py."""
    decoder = decoder_for(encoding)
    out = b""
    for start in range(0, len(data), chunk_bytes):
        piece = decoder.decode(data[start : start + chunk_bytes], budget - len(out))
        out += piece
        if len(out) > budget:
            break
    return out


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_round_trip(encoding: str) -> None:
    assert feed(encoding, ENCODERS[encoding](TEXT), budget=len(TEXT)) == TEXT


@pytest.mark.parametrize("chunk_bytes", [1, 7, 65536])
def test_raw_deflate_is_accepted_too(chunk_bytes: int) -> None:
    raw = zlib.compress(TEXT)[2:-4]  # strip the zlib header and checksum
    assert feed("deflate", raw, budget=len(TEXT), chunk_bytes=chunk_bytes) == TEXT


def test_stacked_encodings_are_undone_in_reverse() -> None:
    data = brotli.compress(gzip.compress(TEXT))
    assert feed("gzip, br", data, budget=len(TEXT)) == TEXT


def test_identity_and_missing_header_pass_bytes_through() -> None:
    assert feed(None, TEXT, budget=len(TEXT)) == TEXT
    assert feed("identity", TEXT, budget=len(TEXT)) == TEXT


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_output_beyond_budget_is_cut_at_one_byte_over(encoding: str) -> None:
    bomb = ENCODERS[encoding](bytes(1024 * 1024))
    out = feed(encoding, bomb, budget=4096, chunk_bytes=len(bomb))
    assert len(out) == 4097


def test_exactly_the_budget_is_not_over_it() -> None:
    assert feed("gzip", gzip.compress(TEXT), budget=len(TEXT)) == TEXT


def test_bomb_inside_a_stack_is_caught_at_its_layer() -> None:
    bomb = brotli.compress(gzip.compress(bytes(1024 * 1024)))
    assert len(feed("gzip, br", bomb, budget=1024)) == 1025


def test_corrupt_body_is_a_decode_error() -> None:
    with pytest.raises(BadMessage) as caught:
        feed("gzip", b"\x1f\x8b\x08\x00garbage-that-is-not-deflate", budget=1000)
    assert caught.value.error_class == "decode_error"


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(BadMessage) as caught:
        decoder_for("compress")
    assert caught.value.error_class == "unsupported_content_encoding"
