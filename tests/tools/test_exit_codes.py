"""The README's exit-code promise, for every command: 0 done, 2 configuration or environment, 3 Kafka.

Each failure ends in one line on stderr naming what to check, never a traceback
(``--debug`` asks for one). Commands run as a person runs them: as processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import orjson
import pytest

from stages.core import kafka
from tests.conftest import ROOT, free_port, kafka_env

COMMANDS = {
    "fetcher": ["fetcher"],
    "parser": ["parser"],
    "sink": ["sink"],
    "topics": ["topics", "create"],
    "publish": ["publish", "-"],
    "tail": ["tail", "crawl.urls", "--idle-seconds", "1"],
    "replay": ["replay", "--from-beginning"],
    "run": ["run", "--kafka-unreachable-exit-seconds", "2"],
    "status": ["status"],
    "dlq": ["dlq"],
    "redrive": ["redrive", "--error-class", "http_status"],
}


def crawlpipe(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stages.cli", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout, input="", check=False)


def assert_one_line(done: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in last, last


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_kafka_unreachable_is_exit_3_with_one_line(command):
    done = crawlpipe(*COMMANDS[command], "--bootstrap", f"127.0.0.1:{free_port()}",
                     env={"CRAWLPIPE_REQUEST_TIMEOUT_SECONDS": "3"})
    assert_one_line(done, 3, "127.0.0.1")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_setting_is_exit_2_with_one_line(command):
    done = crawlpipe(*COMMANDS[command], "--log-level", "LOUD")
    assert_one_line(done, 2, "--log-level", "LOUD")


@pytest.mark.parametrize("args", [["config", "--markdown", "--nonsense"], ["shop", "--pages", "zero"]])
def test_a_bad_option_of_commands_without_kafka_is_exit_2(args):
    done = crawlpipe(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_a_missing_seeds_file_is_exit_2_naming_it(tmp_path):
    done = crawlpipe("publish", str(tmp_path / "seeds.txt"))
    assert_one_line(done, 2, "seeds.txt", "No such file")


def test_debug_shows_the_traceback():
    done = crawlpipe("publish", "/nonexistent/seeds.txt", "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr


@pytest.mark.kafka
@pytest.mark.parametrize("stage", ["fetcher", "parser", "sink"])
def test_a_stage_started_before_topics_create_names_them_and_the_command(kafka_bootstrap, stage):
    done = crawlpipe(stage, "--bootstrap", kafka_bootstrap, "--group-prefix", "nothing-here",
                     env={"CRAWLPIPE_TOPIC_URLS": "absent.urls", "CRAWLPIPE_TOPIC_PAGES": "absent.pages",
                          "CRAWLPIPE_TOPIC_PRODUCTS": "absent.products", "CRAWLPIPE_TOPIC_DLQ": "absent.dlq"})
    assert_one_line(done, 2, "not exist", "absent.", "crawlpipe topics create")
    assert len(done.stderr.splitlines()) < 15, done.stderr


def test_output_piped_into_head_ends_cleanly():
    done = subprocess.run(f"{sys.executable} -m stages.cli config | head -2", shell=True, capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)
    assert len(done.stdout.splitlines()) == 2
    assert "BrokenPipeError" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_shop_takes_its_documented_options():
    shop = subprocess.Popen([sys.executable, "-m", "stages.cli", "shop", "--pages", "3", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert shop.stdout is not None
        assert shop.stdout.readline().startswith("http://127.0.0.1:")
    finally:
        shop.send_signal(signal.SIGINT)
        shop.wait(timeout=30)


@pytest.mark.kafka
async def test_tail_with_idle_seconds_ends_on_an_idle_topic(kafka_config):
    done = crawlpipe("tail", kafka_config.topic_products, "--from-beginning", "--idle-seconds", "2",
                     env=kafka_env(kafka_config), timeout=60)
    assert done.returncode == 0 and done.stdout == "", done.stderr


@pytest.mark.kafka
async def test_dlq_escapes_control_bytes(kafka_config):
    producer = kafka.producer(kafka_config, client_id="test")
    await producer.start()
    try:
        record = {"stage": "sink", "error_class": "out_of_limits", "error": "title \x1b[2J\x00", "attempt": 1,
                  "failed_at": "2026-12-01T00:00:00Z", "input": {"topic": "t", "value": "a\x1b]0;owned\x07"}}
        await producer.send_and_wait(kafka_config.topic_dlq, orjson.dumps(record))
    finally:
        await producer.stop()
    done = crawlpipe("dlq", env=kafka_env(kafka_config))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x00" not in done.stdout and "\x07" not in done.stdout
    assert "\\x1b[2J" in done.stdout and "\\x1b]0;owned\\x07" in done.stdout
