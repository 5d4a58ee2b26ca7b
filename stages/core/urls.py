"""The one URL contract: what ``publish``, the fetcher and the parser's link follower accept.

Every URL that enters ``crawl.urls`` or is requested goes through
``normalize_url``, so a URL that one of them accepts is never refused by
another, and a refusal always has the error class ``bad_url``. Normalising
follows the WHATWG URL Standard where it matters for safety and identity:

- leading/trailing spaces and controls are stripped, tabs and newlines removed;
- scheme and host are lowercased; a host is percent-decoded, then IDNA-encoded;
- a host that ends in a number is an IPv4 address in any spelling browsers
  accept (``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``) and is
  rewritten as its dotted quad, so the SSRF guard judges the address it reaches;
- the path and query are percent-encoded where they need it (yarl);
- the fragment is dropped (never sent), and so is userinfo: credentials found
  in a URL are never stored nor replayed; the caller is told, to warn.

One maximum length, ``MAX_URL_LENGTH``, holds for the raw and the normalised
form; ``schemas/url.schema.json`` carries the same number.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from urllib.parse import unquote

from yarl import URL

from stages.core.errors import BadMessage
from stages.core.shorten import shorten

BAD_URL = "bad_url"
MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253

_SCHEMES = frozenset({"http", "https"})
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# WHATWG strips C0 controls and spaces at both ends, and removes tabs and newlines inside.
_STRIP = "".join(map(chr, range(0x21)))
_DROP = str.maketrans("", "", "\t\n\r")
# WHATWG "ends in a number": the last label is decimal digits, or 0x and hex digits.
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


class BadUrl(BadMessage):
    """A URL outside the contract; the message says which rule it broke."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_class=BAD_URL)


def normalize_url(text: object, *, on_userinfo: Callable[[str], None] | None = None) -> str:
    """Return ``text`` as the contract's normal form, or raise ``BadUrl``.

    ``on_userinfo(url)`` is called with the normalised URL when credentials
    were stripped from it, so the caller can warn where its user will see it.
    """
    if not isinstance(text, str):
        raise BadUrl(f"URL must be a string, got {type(text).__name__}")
    if len(text) > MAX_URL_LENGTH:
        raise BadUrl(f"URL is {len(text)} characters, above the limit of {MAX_URL_LENGTH}: {shorten(text)}")
    cleaned = text.strip(_STRIP).translate(_DROP)
    try:
        parsed = URL(cleaned)
        raw_host = parsed.raw_host
        port = parsed.port  # yarl checks the port lazily; reading it surfaces a bad one now
    except (TypeError, ValueError) as exc:
        raise BadUrl(f"malformed URL {shorten(text)!r}: {exc}") from exc
    if parsed.scheme not in _SCHEMES:
        raise BadUrl(f"only http and https URLs are fetched, not {parsed.scheme or 'a relative URL'}: {shorten(text)!r}")
    if not raw_host:
        raise BadUrl(f"URL has no host: {shorten(text)!r}")
    if not port:
        raise BadUrl(f"URL has port 0: {shorten(text)!r}")
    host = normalize_host(raw_host)
    had_userinfo = parsed.raw_user is not None or parsed.raw_password is not None
    try:
        normal = parsed.with_user(None).with_fragment(None)
        if host != raw_host:
            normal = normal.with_host(host)
        if not normal.raw_path:
            normal = normal.with_path("/")
    except ValueError as exc:
        raise BadUrl(f"malformed URL {shorten(text)!r}: {exc}") from exc
    result = str(normal)
    if len(result) > MAX_URL_LENGTH:
        raise BadUrl(f"URL is {len(result)} characters once normalised, above the limit of {MAX_URL_LENGTH}: "
                     f"{shorten(result)}")
    if had_userinfo and on_userinfo is not None:
        on_userinfo(result)
    return result


def normalize_host(raw_host: str) -> str:
    """A host as the contract spells it (dotted-quad IPv4, IPv6 without brackets, IDNA name); else ``BadUrl``."""
    if ":" in raw_host:
        try:
            return str(ipaddress.IPv6Address(raw_host))
        except ValueError:
            raise BadUrl(f"URL host {shorten(raw_host)!r} is not an IPv6 address") from None
    host = raw_host
    if "%" in host:
        try:
            host = URL.build(scheme="http", host=unquote(host, errors="strict").lower()).raw_host or ""
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadUrl(f"URL host {shorten(raw_host)!r} does not percent-decode to a host name") from exc
    host = host.lower()
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    if _NUMBER.fullmatch(labels[-1]):
        return _ipv4(labels, raw_host)
    if len(host) > MAX_HOST_LENGTH or not all(_LABEL.fullmatch(label) for label in labels):
        raise BadUrl(f"URL host {shorten(raw_host)!r} is not a host name or IP address")
    return host


def _ipv4(parts: list[str], raw_host: str) -> str:
    """WHATWG's IPv4 parser: 1-4 parts, each decimal, octal (leading 0) or hex (0x); the last fills the rest."""
    if len(parts) > 4:
        raise BadUrl(f"URL host {shorten(raw_host)!r} ends in a number but has more than four parts")
    numbers = [_ipv4_number(part, raw_host) for part in parts]
    last = numbers.pop()
    if any(n > 255 for n in numbers) or last >= 256 ** (4 - len(numbers)):
        raise BadUrl(f"URL host {shorten(raw_host)!r} is an IPv4 address out of range")
    value = last
    for index, number in enumerate(numbers):
        value += number << (8 * (3 - index))
    return str(ipaddress.IPv4Address(value))


def _ipv4_number(part: str, raw_host: str) -> int:
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError:
        raise BadUrl(f"URL host {shorten(raw_host)!r} is not an IPv4 address") from None
