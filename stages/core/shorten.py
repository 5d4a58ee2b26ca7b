"""Cut long untrusted values before they reach a terminal, a log line or a DLQ record's error text.

A 10,000-character URL echoed whole helps nobody and floods the reader; its
first characters and its length say what it was.
"""

from __future__ import annotations

EXCERPT_CHARS = 120
ERROR_TEXT_MAX_CHARS = 1000


def shorten(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` if it fits in ``limit`` characters, else its start, an ellipsis and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"
