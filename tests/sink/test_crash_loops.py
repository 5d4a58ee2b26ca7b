"""The issue's three crash loops end in DLQ records, with the sink still running (real broker and PostgreSQL).

Each of these records passes the product schema and used to stop the sink on
every restart: a ``fetched_at`` of year 9999 with a negative offset (an
``OverflowError``), a NUL in a title (refused by PostgreSQL), and a value so
large that the DLQ record quoting it did not fit the DLQ topic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from stages.core import kafka
from stages.core.errors import BadMessage
from tests.conftest import StageProcesses, eventually
from tests.integration.test_pipeline import read_topic
from tests.sink.storage_helpers import Database, product_record, started

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def recent(seconds: int) -> str:
    return (datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=seconds)).isoformat()


def record(product_id: str, **fields) -> bytes:
    return orjson.dumps({**product_record(product_id, fetched_at=recent(0), parsed_at=recent(1)),
                         "method": "rules", **fields})


async def test_year_9999_nul_and_a_huge_value_go_to_the_dlq_and_the_sink_goes_on(
        kafka_config, stages: StageProcesses, postgres_url: str):
    huge_title = "\u00e9" * 400_000  # 800 KB of UTF-8: fits the products topic, not the text limit
    bad = {
        "year-9999": record("year-9999", fetched_at="9999-12-31T23:59:59-01:00"),
        "nul": record("nul", title="Kettle\u0000"),
        "huge": record("huge", title=huge_title),
    }
    producer = kafka.producer(kafka_config, client_id="test-parser")
    await producer.start()
    try:
        await producer.send_and_wait(kafka_config.topic_products, record("good-before"), key=b"good-before")
        for key, value in bad.items():
            await producer.send_and_wait(kafka_config.topic_products, value, key=key.encode())
        await producer.send_and_wait(kafka_config.topic_products, record("good-after"), key=b"good-after")
    finally:
        await producer.stop()
    sink = stages.start("sink", CRAWLPIPE_STORAGE=postgres_url)
    db = Database("postgresql", postgres_url)

    async def both_good_stored() -> bool:
        return set(await db.products()) == {"good-before", "good-after"} if "products" in await db.table_names() \
            else False

    await eventually(both_good_stored, what="the records around the bad ones to be stored")
    dead = {r.key.decode(): r for r in await read_topic(kafka_config, kafka_config.topic_dlq, expected=3)}
    assert set(dead) == set(bad)
    for key, dead_record in dead.items():
        document = orjson.loads(dead_record.value)
        assert document["stage"] == "sink" and document["error_class"] == "out_of_limits", document
        assert document["input"]["value_bytes"] == len(bad[key])
    assert "fetched_at" in orjson.loads(dead["year-9999"].value)["error"]
    assert "U+0000" in orjson.loads(dead["nul"].value)["error"]
    huge = orjson.loads(dead["huge"].value)
    assert len(dead["huge"].value) < 100 * 1024 and huge["input"]["value_truncated"] is True
    assert sink.poll() is None, "the sink stopped"
    assert stages.stop("sink") == 0
    assert "dlq 3" in stages.log("sink")


async def test_postgresql_refusing_a_nul_is_that_records_failure_not_a_storage_failure(postgres_url: str):
    """The second line of defence, below the limits: PostgreSQL's data errors are per record."""
    async with started(postgres_url) as storage:
        with pytest.raises(BadMessage) as refused:
            await storage.write_batch([product_record("nul", title="Kettle\u0000") | {"method": "rules"}])
    assert refused.value.error_class == "storage_refused" and not refused.value.retriable
