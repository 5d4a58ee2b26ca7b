"""A consumer written from docs/consuming.md, with nothing but `pip install aiokafka`, reads the products.

The example block of the docs is run as it stands, in a fresh virtual
environment without aiokafka's codec extras, against records the real
parser produced with the default products compression.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from stages.tools.publish import publish
from tests.conftest import ROOT, StageProcesses
from tests.integration.test_pipeline import read_topic

# Installing a virtual environment's packages takes minutes on a busy machine, past the default 120 s.
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]

DOCS = (ROOT / "docs" / "consuming.md").read_text()


@pytest.fixture(scope="module")
def plain_aiokafka(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("plain") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=120)
    subprocess.run([str(home / "bin/pip"), "install", "--quiet", "--disable-pip-version-check", "aiokafka"],
                   check=True, timeout=600)
    return home / "bin/python"


def test_the_products_default_is_a_codec_a_plain_client_reads():
    assert KafkaConfig().compression_products == "gzip"


async def test_the_documented_consumer_reads_the_products_with_plain_aiokafka(
        plain_aiokafka: Path, kafka_config: KafkaConfig, stages: StageProcesses, tmp_path: Path):
    no_zstd = subprocess.run([str(plain_aiokafka), "-c", "from aiokafka.codec import has_zstd; print(has_zstd())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert no_zstd == "False", "the venv must hold aiokafka without its codec extras"
    example = re.search(r"```python\n(.*?)```", DOCS, re.DOTALL)
    assert example is not None
    script = tmp_path / "consume_products.py"
    script.write_text(example.group(1))
    catalog = Catalog(pages=1)
    async with await start_shop(catalog) as shop:
        expected = {(p["url"], p["title"], p["price"]) for p in catalog.expected_products(shop.base_url)}
        await publish(kafka_config, [f"{shop.base_url}/list/1.html\n"])
        stages.start("fetcher", CRAWLPIPE_FOLLOW_LINKS="false")
        stages.start("parser", CRAWLPIPE_FOLLOW_LINKS="false")
        await read_topic(kafka_config, kafka_config.topic_products, len(expected))
        # The same page once more: every id arrives twice, with a later fetched_at the second time.
        await publish(kafka_config, [f"{shop.base_url}/list/1.html?again=1\n"])
        records = await read_topic(kafka_config, kafka_config.topic_products, 2 * len(expected))
    newest = {}
    for record in (json.loads(r.value) for r in records):
        kept = newest.get(record["id"])
        if kept is None or record["fetched_at"] > kept["fetched_at"]:
            newest[record["id"]] = record
    done = subprocess.run([str(plain_aiokafka), str(script)], capture_output=True, text=True, timeout=120,
                          check=False, env={"BOOTSTRAP": kafka_config.bootstrap, "TOPIC": kafka_config.topic_products,
                                            "GROUP": f"{kafka_config.group_prefix}-docs", "IDLE_MS": "3000"})
    assert done.returncode == 0, done.stderr
    read = [json.loads(line) for line in done.stdout.splitlines()]
    assert {(r["url"], r["title"], r["price"]) for r in read} == expected
    assert {r["id"]: r["fetched_at"] for r in read} == {i: r["fetched_at"] for i, r in newest.items()}
