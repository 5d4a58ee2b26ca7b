"""Storage URLs in messages: the password never leaves the process in an error or a log line."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_password(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return url
    return url if password is None else url.replace(f":{password}@", ":***@", 1)
