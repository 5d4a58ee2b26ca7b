"""Text from topics made safe to print: a DLQ record quotes bad input, control bytes and all."""

from __future__ import annotations

import re

# Every C0 and C1 control character and DEL: an ESC in a failed value must not drive the terminal,
# and a newline must not split one record's line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each control character written as its Python escape (``\\x00``, ``\\n``)."""
    return _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)
