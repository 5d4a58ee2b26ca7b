"""The sink stage through the real broker: redelivered, late and bad records end as one correct row each."""

from __future__ import annotations

import orjson
import pytest

from stages.core import kafka
from tests.conftest import StageProcesses, eventually
from tests.sink.storage_helpers import Database, at, product_record

pytestmark = pytest.mark.kafka


def record(product_id: str, **fields) -> bytes:
    return orjson.dumps({**product_record(product_id, **fields), "method": "rules"})


async def test_duplicates_and_late_records_collapse_and_a_bad_one_goes_to_the_dlq(
        kafka_config, stages: StageProcesses, db: Database):
    ids = [f"p{i:03d}" for i in range(40)]
    producer = kafka.producer(kafka_config, client_id="test-parser")
    await producer.start()
    try:
        for fetched, price in ((10, "10.00"), (20, "12.50"), (10, "10.00"), (20, "12.50")):
            for pid in ids:
                await producer.send(kafka_config.topic_products, record(pid, price=price, fetched_at=at(fetched)),
                                    key=pid.encode())
        await producer.send_and_wait(kafka_config.topic_products, orjson.dumps({"id": "broken"}), key=b"broken")
    finally:
        await producer.stop()
    stages.start("sink", CRAWLPIPE_STORAGE=db.url)
    # The storage's tables exist once the stage consumes.
    await eventually(lambda: "sink consuming" in stages.log("sink"), what="the sink to start")

    async def all_new() -> dict | None:
        products = await db.products()
        return products if len(products) == len(ids) and all(
            str(p["price"]) == "12.50" for p in products.values()) else None

    products = await eventually(all_new, what="every product at its newest price")
    assert set(products) == set(ids)
    # History rows only for real changes: never one for a redelivery or a late record. (Both versions
    # may fall in one batch, where the older collapses into the newer before it is ever stored.)
    history = await db.history()
    for pid in ids:
        prices = [str(h["price"]) for h in sorted(history, key=lambda h: h["observed_at"]) if h["product_id"] == pid]
        assert prices in (["10.00", "12.50"], ["12.50"]), (pid, prices)
    assert stages.stop("sink") == 0
    assert "dlq 1" in stages.log("sink")
