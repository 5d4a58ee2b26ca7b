"""Decode a page's raw bytes to text without ever failing on bad bytes.

The order follows the HTML Standard as w3lib implements it: a byte-order mark,
then the Content-Type charset, then ``<meta charset>`` / ``http-equiv`` (or an
XML declaration), then detection. One step is added: a declaration is only
believed if the bytes decode cleanly in it. Servers often send a blanket
``charset=utf-8`` for pages that are really windows-1251 or latin-1 and say so
in their ``<meta>``; strict decoding exposes the lie and the next declaration
gets its turn. Single-byte encodings accept almost any bytes, so this check
only ever overrules a multi-byte declaration such as UTF-8.

If nothing declared decodes cleanly, the first declaration is used with
U+FFFD for the bad bytes. With no declaration at all: valid UTF-8 is UTF-8;
anything else is handed to charset-normalizer (the first 64 KiB is plenty and
keeps it cheap), restricted to encodings web pages really use and preferring
windows-1252, the fallback browsers use for undeclared Western pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import charset_normalizer
from w3lib.encoding import (
    html_body_declared_encoding,
    read_bom,
    resolve_encoding,
    to_unicode,
)

_FALLBACK = "cp1252"
_DETECT_BYTES = 64 * 1024
_WEB_ENCODINGS = frozenset({
    "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874",
    "koi8-r", "koi8-u", "iso8859-2", "iso8859-5", "iso8859-7", "iso8859-8", "iso8859-15",
    "cp932", "euc_jp", "iso2022_jp", "gb18030", "big5hkscs", "cp949",
})


class Decoded(NamedTuple):
    """A page body's text, and what the parser may build its tree from."""

    text: str
    encoding: str
    """The Python codec name used."""
    utf8_body: bool
    """Whether the body is exactly ``text`` in UTF-8 (no BOM, nothing cut off or replaced).

    lexbor reads UTF-8 and selectolax encodes a ``str`` back to it, so such a
    body is parsed as it is: on a listing page with non-ASCII prices that copy
    cost ~6% of the parser's instructions.
    """


def decode_body(body: bytes, header_charset: str | None) -> Decoded:
    """Decode a page body, given the charset from its Content-Type header."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding is not None and bom is not None:
        return Decoded(to_unicode(body[len(bom) :], bom_encoding), bom_encoding, False)
    declared: list[str] = []
    for encoding in _declared(body, header_charset):
        if encoding is None or encoding in declared:
            continue
        declared.append(encoding)
        decoded = _strict(body, encoding)
        if decoded is not None:
            return decoded
    if "utf-8" not in declared:
        decoded = _strict(body, "utf-8")
        if decoded is not None:
            return decoded
    encoding = declared[0] if declared else _detect(body) or _FALLBACK
    return Decoded(to_unicode(body, encoding), encoding, False)


def _detect(body: bytes) -> str | None:
    """A detected encoding, if it is one web pages really use (detectors also offer Mac and DOS
    code pages, which on a short Western page beat the windows-1252 a browser would pick)."""
    candidates = [_resolve(match.encoding) for match in charset_normalizer.from_bytes(body[:_DETECT_BYTES])]
    web = [encoding for encoding in candidates if encoding in _WEB_ENCODINGS]
    # Several single-byte code pages read a Western page plausibly; browsers pick windows-1252.
    if _FALLBACK in web:
        return _FALLBACK
    return web[0] if web else None


def _declared(body: bytes, header_charset: str | None) -> Iterator[str | None]:
    """Yield the header's encoding, then the document's; lazily, so the body is only scanned when needed."""
    yield _resolve(header_charset)
    yield _resolve(html_body_declared_encoding(body))


def _resolve(label: str | None) -> str | None:
    """Map a charset label to a Python codec name, treating UTF-16/32 without a BOM as big-endian."""
    if not label:
        return None
    encoding = resolve_encoding(label)
    if encoding in {"utf-16", "utf-32"}:
        return f"{encoding}-be"
    return encoding


def _strict(body: bytes, encoding: str) -> Decoded | None:
    """Decode strictly, or return None; a UTF-8 sequence cut off at the very end still counts as clean.

    The fetcher caps body sizes, so a page can end halfway through a multi-byte
    character: that says nothing against the declaration.
    """
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding == "utf-8" and error.reason == "unexpected end of data":
            return Decoded(body[: error.start].decode(encoding) + "\ufffd", encoding, False)
        return None
    return Decoded(text, encoding, encoding == "utf-8")
