"""Streaming Content-Encoding decoders whose output can never exceed a cap.

aiohttp's own decompression is switched off so that a small gzip or brotli
"bomb" can be stopped after ``limit`` decoded bytes, instead of being inflated
into memory first. Each decoder is fed raw chunks and asked for at most a
given number of output bytes, and hands back at most one byte more: that
extra byte is how the caller learns the budget is blown.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli

from stages.core.errors import BadMessage
from stages.fetcher.errors import DECODE_ERROR, UNSUPPORTED_CONTENT_ENCODING


class Decoder(Protocol):
    """One Content-Encoding layer."""

    def decode(self, data: bytes, max_output_bytes: int) -> bytes:
        """Decode ``data``; longer than ``max_output_bytes`` (by one byte at most) means over budget."""
        ...  # pragma: no cover


class _Identity:
    def decode(self, data: bytes, max_output_bytes: int) -> bytes:
        return data[: max_output_bytes + 1]


class _Zlib:
    """gzip, or deflate in either framing: zlib-wrapped (RFC 9110) or raw (what many servers send)."""

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits
        self._head = b""
        self._inflater = zlib.decompressobj(wbits) if wbits is not None else None

    def decode(self, data: bytes, max_output_bytes: int) -> bytes:
        if self._inflater is None:
            # deflate's framing is known from its first two bytes only.
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            cmf, flg = data[0], data[1]
            zlib_wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        if self._inflater.eof:
            return b""  # trailing bytes after the stream's end, as browsers ignore them
        try:
            # Input left over (unconsumed_tail) only when the output is over budget,
            # and then the caller stops: it never needs feeding back.
            return self._inflater.decompress(data, max_output_bytes + 1)
        except zlib.error as exc:
            raise BadMessage(f"corrupt compressed body: {exc}", error_class=DECODE_ERROR) from exc


class _Brotli:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def decode(self, data: bytes, max_output_bytes: int) -> bytes:
        try:
            # The buffer may overshoot the limit; only "longer than the budget" matters.
            output = self._decompressor.process(data, output_buffer_limit=max_output_bytes + 1)
        except brotli.error as exc:
            raise BadMessage(f"corrupt brotli body: {exc}", error_class=DECODE_ERROR) from exc
        return output[: max_output_bytes + 1]


class _Chain:
    """Several encodings, applied in the order the server listed them, so undone in reverse."""

    def __init__(self, layers: list[Decoder]) -> None:
        self._layers = layers

    def decode(self, data: bytes, max_output_bytes: int) -> bytes:
        for layer in self._layers:
            # Every layer gets the same budget, since a bomb may sit at any layer;
            # an over-budget layer stops the chain so its overflow is reported.
            data = layer.decode(data, max_output_bytes)
            if len(data) > max_output_bytes:
                break
        return data


def decoder_for(content_encoding: str | None) -> Decoder:
    """Return a fresh decoder for a Content-Encoding header value."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    layers = [_layer(name) for name in reversed(names) if name != "identity"]
    if not layers:
        return _Identity()
    if len(layers) == 1:
        return layers[0]
    return _Chain(layers)


def _layer(name: str) -> Decoder:
    if name in ("gzip", "x-gzip"):
        return _Zlib(zlib.MAX_WBITS | 16)
    if name == "deflate":
        return _Zlib(None)
    if name == "br":
        return _Brotli()
    raise BadMessage(f"unsupported Content-Encoding {name!r}", error_class=UNSUPPORTED_CONTENT_ENCODING)
