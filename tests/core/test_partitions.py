"""crawlpipe's partitioner is Kafka's default: the same partition as aiokafka (and Java) for every key."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given
from hypothesis import strategies as st

from stages.core.partitions import murmur2, partition_for


@given(st.binary(max_size=200))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == reference_murmur2(key)


@given(st.binary(min_size=1, max_size=64), st.integers(1, 64))
def test_a_key_goes_where_the_default_partitioner_puts_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_records_without_a_key_go_to_any_partition() -> None:
    assert {partition_for(None, [0, 1, 2]) for _ in range(200)} == {0, 1, 2}
