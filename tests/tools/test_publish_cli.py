"""`crawlpipe publish` on a seeds file with bad bytes, credentials and an overlong URL, through the real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import ROOT, kafka_env
from tests.integration.test_pipeline import read_topic

pytestmark = pytest.mark.kafka


async def test_each_bad_line_is_reported_on_its_own_and_nothing_is_replaced(kafka_config, tmp_path: Path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_bytes(b"http://shop.example/ok\n"
                      b"http://shop.example/caf\xe9\n"
                      b"http://me:secret@shop.example/account\n"
                      + b"http://shop.example/" + b"a" * 10_000 + b"\n"
                      b"http://127.1/local\n")
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "stages.cli", "publish", str(seeds)], check=False,
        env={**os.environ, **kafka_env(kafka_config)}, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "line 2: bad_encoding" in done.stderr
    assert "line 3: warning: credentials stripped" in done.stderr
    assert "line 4: bad_url" in done.stderr
    assert "secret" not in done.stderr
    assert max(len(line) for line in done.stderr.splitlines()) < 400, "a long value was echoed whole"
    assert "published 3 URL messages" in done.stdout

    published = await read_topic(kafka_config, kafka_config.topic_urls, 3)
    urls = sorted(orjson.loads(record.value)["url"] for record in published)
    assert urls == ["http://127.0.0.1/local", "http://shop.example/account", "http://shop.example/ok"]
    dead = sorted((orjson.loads(record.value) for record in await read_topic(kafka_config, kafka_config.topic_dlq, 2)),
                  key=lambda document: document["input"]["line"])
    assert [(d["input"]["line"], d["error_class"]) for d in dead] == [(2, "bad_encoding"), (4, "bad_url")]
    assert all(len(d["error"]) < 400 for d in dead)
