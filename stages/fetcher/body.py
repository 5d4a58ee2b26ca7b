"""Read a response body as it streams in, never holding more than the caps allow.

The raw (still compressed) bytes are counted against one cap and the decoded
bytes against another, chunk by chunk, so a 100 MB response or a gzip bomb
costs at most the cap plus one network chunk of memory before it is refused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from yarl import URL

from stages.core.errors import BadMessage
from stages.fetcher.decoding import decoder_for
from stages.fetcher.errors import DECODE_BOMB, TOO_LARGE


@dataclass(frozen=True, slots=True)
class LargeBodyGate:
    """Lets at most a few bodies grow past ``threshold_bytes`` at once.

    Ordinary pages never wait. A large one waits for a slot before reading on,
    so streaming costs at most concurrency x threshold + slots x the decoded cap
    whatever the sites send. A slot holder waits only on its own socket, so
    the gate cannot deadlock.
    """

    threshold_bytes: int
    slots: asyncio.Semaphore


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Caps for one body; ``truncate`` keeps the first bytes instead of refusing (robots.txt)."""

    max_raw_bytes: int
    max_decoded_bytes: int
    truncate: bool = False
    gate: LargeBodyGate | None = None


async def read_body(
    content: aiohttp.StreamReader, content_encoding: str | None, limits: BodyLimits, *, url: URL
) -> bytes:
    """Return the content-decoded body, or raise ``too_large`` / ``decode_bomb``.

    The caller must close the response when this raises: the rest of the body
    is deliberately left unread on the socket.
    """
    decoder = decoder_for(content_encoding)
    encoded = content_encoding is not None and content_encoding.strip().lower() not in ("", "identity")
    gate = limits.gate
    holds_slot = False
    parts: list[bytes] = []
    raw_bytes = decoded_bytes = 0
    try:
        async for chunk in content.iter_any():
            raw_bytes += len(chunk)
            over_raw = raw_bytes > limits.max_raw_bytes
            if over_raw:
                if not limits.truncate:
                    raise BadMessage(
                        f"{url}: body exceeds max_body_bytes={limits.max_raw_bytes} on the wire",
                        error_class=TOO_LARGE,
                    )
                chunk = chunk[: len(chunk) - (raw_bytes - limits.max_raw_bytes)]
            budget = limits.max_decoded_bytes - decoded_bytes
            output = decoder.decode(chunk, budget)
            if len(output) > budget:
                if not limits.truncate:
                    if encoded:
                        raise BadMessage(
                            f"{url}: {content_encoding} body decodes to more than "
                            f"max_decompressed_bytes={limits.max_decoded_bytes}",
                            error_class=DECODE_BOMB,
                        )
                    raise BadMessage(
                        f"{url}: body exceeds max_decompressed_bytes={limits.max_decoded_bytes}",
                        error_class=TOO_LARGE,
                    )
                parts.append(output[:budget])
                break
            parts.append(output)
            decoded_bytes += len(output)
            if over_raw:
                break
            if gate is not None and not holds_slot and decoded_bytes > gate.threshold_bytes:
                await gate.slots.acquire()
                holds_slot = True
        return b"".join(parts)
    finally:
        if holds_slot and gate is not None:
            gate.slots.release()
