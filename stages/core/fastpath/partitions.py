"""Which partition a keyed record goes to: Kafka's default, murmur2 of the key.

The same function as aiokafka's ``DefaultPartitioner`` and the Java client's,
so crawlpipe's producers and anyone else's put one key (a URL's host, a
product id) on one partition (tests/core/test_partitions.py), with a
compiled murmur2 (why: ``stages/core/fastpath/__init__.py``).
"""

from __future__ import annotations

import random

from murmurhash2 import murmurhash2

_SEED = 0x9747B28C


def partition_for(key: bytes | None, partitions: list[int]) -> int:
    """The partition of ``key`` among ``partitions`` (sorted); a random one for records without a key."""
    if key is None:
        return random.choice(partitions)
    return partitions[(murmurhash2(key, _SEED) & 0x7FFFFFFF) % len(partitions)]
