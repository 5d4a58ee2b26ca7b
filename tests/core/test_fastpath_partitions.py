"""crawlpipe's partitioner is Kafka's default: the same partition as aiokafka (and Java) for every key."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from stages.core.fastpath.partitions import partition_for


@given(st.binary(max_size=200), st.integers(1, 64))
def test_a_key_goes_where_the_default_partitioner_puts_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_records_without_a_key_go_to_any_partition() -> None:
    assert {partition_for(None, [0, 1, 2]) for _ in range(200)} == {0, 1, 2}
