"""A Bloom filter with memory fixed at construction: links a parser already sent to ``crawl.urls``, URLs a
fetcher already took on.

A set of every URL ever followed grows for as long as the crawl runs, which is
exactly the failure this project exists to avoid. A Bloom filter answers "seen
before?" in a fixed number of bytes, at the price of a small, known rate of
false positives (a new link wrongly skipped) and no false negatives (a seen
link is never sent twice by the same process).

For ``n`` items in ``m`` bits with ``k`` hash functions, the false-positive
probability is ``p ≈ (1 - e^(-k·n/m))^k``. The constructor picks the optimum
``m = -n·ln(p) / (ln 2)^2`` bits and ``k = (m/n)·ln 2`` for the requested
capacity ``n`` and error rate ``p``; past ``n`` items the filter keeps working
but ``p`` rises, which ``count`` lets the caller notice.
"""

from __future__ import annotations

import math
from hashlib import blake2b

from stages.core.errors import ConfigError



class BloomFilter:
    """Probabilistic set of strings; `add` says whether the item was (probably) there already."""

    __slots__ = ("_bit_count", "_bits", "_hash_count", "capacity", "count", "error_rate")

    def __init__(self, capacity: int, error_rate: float) -> None:
        if capacity < 1:
            raise ConfigError(f"BloomFilter capacity must be at least 1, got {capacity}")
        if not 0.0 < error_rate < 1.0:
            raise ConfigError(f"BloomFilter error_rate must be between 0 and 1, got {error_rate}")
        self.capacity = capacity
        self.error_rate = error_rate
        bits = math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2)
        self._bit_count = max(bits, 8)
        self._hash_count = max(1, round(self._bit_count / capacity * math.log(2)))
        self._bits = bytearray((self._bit_count + 7) // 8)
        # Items added that were new: past `capacity` the error rate climbs above `error_rate`.
        self.count = 0

    @property
    def size_bytes(self) -> int:
        """Bytes held by the bit array; fixed for the filter's life."""
        return len(self._bits)

    def add(self, item: str) -> bool:
        """Insert `item`; return True if it was (probably) present already, False if it is certainly new."""
        bits = self._bits
        present = True
        for index in self._indexes(item):
            byte, mask = index >> 3, 1 << (index & 7)
            if not bits[byte] & mask:
                present = False
                bits[byte] |= mask
        if not present:
            self.count += 1
        return present

    def __contains__(self, item: str) -> bool:
        """Whether `item` is (probably) present, without inserting it."""
        bits = self._bits
        return all(bits[index >> 3] & (1 << (index & 7)) for index in self._indexes(item))

    def _indexes(self, item: str) -> list[int]:
        """The k bit positions of `item`."""
        digest = blake2b(item.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        # Double hashing (Kirsch & Mitzenmacher): k indexes from the two 64-bit
        # halves of one digest do as well as k independent hashes. Forcing the
        # step odd rules out a zero step, which would put all k bits in one place.
        first = int.from_bytes(digest[:8], "little")
        step = int.from_bytes(digest[8:], "little") | 1
        size = self._bit_count
        return [(first + i * step) % size for i in range(self._hash_count)]
