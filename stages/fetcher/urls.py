"""Turn an untrusted URL string into one the engine may request.

URLs come from other people's pages, so they are bad input, not bugs: every
refusal is a ``BadMessage`` with error class ``bad_url`` that the stage sends
to the DLQ.
"""

from __future__ import annotations

import ipaddress
import re

from yarl import URL

from stages.core.errors import BadMessage
from stages.fetcher.errors import BAD_URL

_SCHEMES = frozenset({"http", "https"})
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
# WHATWG URL: a host whose last label is a number is parsed as IPv4, and
# inet_aton-style forms (2130706433, 127.1, 0x7f.1) would reach an address
# that no literal-IP check ever saw.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)\.?")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def validate_url(url: str, max_length: int) -> URL:
    """Return ``url`` parsed and normalised, or raise ``BadMessage("bad_url")``.

    Normalising lowercases the scheme and host (yarl does), drops the fragment
    (never sent) and drops userinfo (credentials found on the web must not be
    replayed to anyone).
    """
    if not isinstance(url, str):
        raise BadMessage(f"URL must be a string, got {type(url).__name__}", error_class=BAD_URL)
    if len(url) > max_length:
        raise BadMessage(
            f"URL is {len(url)} characters, above max_url_length={max_length}: {url[:80]}…",
            error_class=BAD_URL,
        )
    try:
        parsed = URL(url)
        host = parsed.raw_host
        # yarl checks the port lazily; reading it here surfaces a bad one now.
        port = parsed.port
    except (TypeError, ValueError) as exc:
        raise BadMessage(f"malformed URL {url[:200]!r}: {exc}", error_class=BAD_URL) from exc
    if parsed.scheme not in _SCHEMES:
        raise BadMessage(
            f"only http and https are fetched, not {parsed.scheme or 'a relative URL'}: {url[:200]!r}",
            error_class=BAD_URL,
        )
    if not host:
        raise BadMessage(f"URL has no host: {url[:200]!r}", error_class=BAD_URL)
    if not port:
        raise BadMessage(f"URL has port 0: {url[:200]!r}", error_class=BAD_URL)
    if not _is_valid_host(host):
        raise BadMessage(f"URL host {host[:100]!r} is not a host name or IP address", error_class=BAD_URL)
    if parsed.raw_fragment or parsed.raw_user is not None:
        parsed = parsed.with_fragment(None).with_user(None)
    return parsed


def _is_valid_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        return False
    if _NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]):
        return _CANONICAL_IPV4.fullmatch(host) is not None
    return True
