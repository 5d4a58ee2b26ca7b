"""The followed-link Bloom filter: fixed memory, no false negatives, the false-positive rate it promises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stages.core.errors import ConfigError
from stages.core.seen import BloomFilter


@given(st.lists(st.text(max_size=40), max_size=200))
def test_no_false_negatives(items: list[str]) -> None:
    seen = BloomFilter(capacity=1_000, error_rate=0.01)
    for item in items:
        seen.add(item)
    assert all(item in seen for item in items)
    assert all(seen.add(item) for item in items)  # adding again always reports "present"


def test_the_false_positive_rate_at_capacity_is_near_the_target() -> None:
    seen = BloomFilter(capacity=100_000, error_rate=0.01)
    for i in range(100_000):
        seen.add(f"https://shop.example/p/{i}")
    probes = 100_000
    false_positives = sum(f"https://other.example/p/{i}" in seen for i in range(probes))
    assert 0.006 < false_positives / probes < 0.014


def test_memory_is_fixed_at_construction_and_follows_the_formula() -> None:
    seen = BloomFilter(capacity=1_000_000, error_rate=0.001)
    before = seen.size_bytes
    for i in range(10_000):
        seen.add(str(i))
    assert seen.size_bytes == before
    assert 1_797_000 < before < 1_798_000  # m = -n ln p / (ln 2)^2 bits = 14.38 Mbit


def test_count_tracks_new_items_to_show_saturation() -> None:
    seen = BloomFilter(capacity=10, error_rate=0.01)
    assert [seen.add(url) for url in ("a", "b", "a")] == [False, False, True]
    assert seen.count == 2


@pytest.mark.parametrize(("capacity", "error_rate"), [(0, 0.01), (-5, 0.01), (10, 0.0), (10, 1.0), (10, 1.5)])
def test_impossible_sizes_are_config_errors(capacity: int, error_rate: float) -> None:
    with pytest.raises(ConfigError):
        BloomFilter(capacity, error_rate)
