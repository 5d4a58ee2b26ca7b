"""Decode a page's raw bytes to text without ever failing on bad bytes.

The order follows the HTML Standard as w3lib implements it: a byte-order mark,
then the Content-Type charset, then ``<meta charset>`` / ``http-equiv`` (or an
XML declaration), then detection. One step is added: a declaration is only
believed if the bytes decode cleanly in it. Servers often send a blanket
``charset=utf-8`` for pages that are really windows-1251 or latin-1 and say so
in their ``<meta>``; strict decoding exposes the lie and the next declaration
gets its turn. Single-byte encodings accept almost any bytes, so this check
only ever overrules a multi-byte declaration such as UTF-8.

Detection is deliberately small (no chardet in the dependencies): text that
is valid UTF-8 is UTF-8, anything else is windows-1252, the fallback browsers
use for undeclared Western pages. If nothing decodes cleanly, the first
declaration (or windows-1252) is used with U+FFFD for the bad bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

from w3lib.encoding import html_body_declared_encoding, read_bom, resolve_encoding, to_unicode

_FALLBACK = "cp1252"


def decode_body(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Return (text, Python codec name used) for a page body and the charset from its Content-Type header."""
    bom_encoding, bom = read_bom(body)
    if bom_encoding is not None and bom is not None:
        return to_unicode(body[len(bom) :], bom_encoding), bom_encoding
    declared: list[str] = []
    for encoding in _declared(body, header_charset):
        if encoding is None or encoding in declared:
            continue
        declared.append(encoding)
        text = _strict(body, encoding)
        if text is not None:
            return text, encoding
    if "utf-8" not in declared:
        text = _strict(body, "utf-8")
        if text is not None:
            return text, "utf-8"
    encoding = declared[0] if declared else _FALLBACK
    return to_unicode(body, encoding), encoding


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


def _strict(body: bytes, encoding: str) -> str | None:
    """Decode strictly, or return None; a UTF-8 sequence cut off at the very end still counts as clean.

    The fetcher caps body sizes, so a page can end halfway through a multi-byte
    character: that says nothing against the declaration.
    """
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding == "utf-8" and error.reason == "unexpected end of data":
            return body[: error.start].decode(encoding) + "\ufffd"
        return None
