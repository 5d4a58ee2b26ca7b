"""A secured cluster (SASL_SSL, SCRAM-SHA-512, a private CA) from one config file.

The session broker's SASL_SSL listener, a SCRAM user made with the Kafka
tools, and a crawlpipe.toml: the three stages, publish, tail, replay and
status all run over it, and a wrong password ends a command with one line
and exit code 3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stages.core import kafka
from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from stages.demoshop.server import start_shop
from tests.conftest import (
    ROOT,
    SHOP_RULES,
    Broker,
    StageProcesses,
    eventually,
    sqlite_rows,
)

pytestmark = pytest.mark.kafka

USER = "crawlpipe-test"
PASSWORD = "s3cret-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def scram_user(kafka_broker: Broker) -> Broker:
    if kafka_broker.secure_bootstrap is None:
        pytest.skip("CRAWLPIPE_TEST_BOOTSTRAP names a broker without the test's SASL_SSL listener")
    subprocess.run(
        [str(ROOT / "ops/kafka/tool"), "configs", "--bootstrap-server", kafka_broker.bootstrap, "--alter",
         "--entity-type", "users", "--entity-name", USER, "--add-config", f"SCRAM-SHA-512=[password={PASSWORD}]"],
        check=True, capture_output=True, timeout=120,
    )
    return kafka_broker


def secured_file(tmp_path: Path, broker: Broker, run: str) -> Path:
    assert broker.ca_file is not None
    shutil.copy(broker.ca_file, tmp_path / "ca.pem")
    path = tmp_path / "crawlpipe.toml"
    path.write_text(f"""
[shared]
bootstrap = "{broker.secure_bootstrap}"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "{USER}"
ssl_cafile = "ca.pem"
topic_urls = "{run}.urls"
topic_pages = "{run}.pages"
topic_products = "{run}.products"
topic_dlq = "{run}.dlq"
group_prefix = "test-{run}"
urls_partitions = 2
pages_partitions = 2
products_partitions = 2
session_timeout_seconds = 6
commit_interval_seconds = 0.2
lag_check_interval_seconds = 0.5

[fetcher]
allowed_networks = ["127.0.0.0/8"]

[parser]
rules = "{SHOP_RULES}"
max_depth = 10

[sink]
storage = "sqlite:///{tmp_path / 'products.db'}"
batch_max_delay_seconds = 0.1
""")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any CRAWLPIPE_ setting, so only the file configures the commands."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CRAWLPIPE_")}, **extra}


def crawlpipe(*args: str, cwd: Path, password: str = PASSWORD, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stages.cli", *args], cwd=cwd, input=stdin, text=True,
                          capture_output=True, timeout=120, check=False,
                          env=clean_env(CRAWLPIPE_SASL_PASSWORD=password, PYTHONPATH=str(ROOT)))


async def test_the_pipeline_and_the_tools_run_over_sasl_ssl_from_one_config_file(scram_user: Broker, tmp_path):
    run = uuid.uuid4().hex[:10]
    config_path = secured_file(tmp_path, scram_user, run)
    created = crawlpipe("topics", "create", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    catalog = Catalog(pages=2)
    processes = StageProcesses(clean_env(CRAWLPIPE_CONFIG=str(config_path), CRAWLPIPE_SASL_PASSWORD=PASSWORD),
                               tmp_path)
    try:
        async with await start_shop(catalog) as shop:
            expected = {(p["url"], p["title"]) for p in catalog.expected_products(shop.base_url)}
            published = crawlpipe("publish", "-", cwd=tmp_path, stdin=f"{shop.base_url}/list/1.html\n")
            assert published.returncode == 0 and "published 1 URL messages" in published.stdout, published.stderr
            for stage in ("fetcher", "parser", "sink"):
                processes.start(stage)
            db = tmp_path / "products.db"
            await eventually(lambda: len(sqlite_rows(db, "SELECT url, title FROM products")) >= len(expected),
                             what="every product in the sink over SASL_SSL")
            assert set(sqlite_rows(db, "SELECT url, title FROM products")) == expected
        for stage in ("fetcher", "parser", "sink"):
            assert processes.stop(stage) == 0, processes.log(stage)
    finally:
        processes.stop_all()

    tail = crawlpipe("tail", f"{run}.products", "--from-beginning", "--max-messages", "1", cwd=tmp_path)
    assert tail.returncode == 0 and '"title"' in tail.stdout, tail.stderr
    replay = crawlpipe("replay", "--from-beginning", cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    assert f"re-parsed 2 pages of {run}.pages" in replay.stdout
    status = crawlpipe("status", cwd=tmp_path)
    assert status.returncode == 0 and f"{run}.products" in status.stdout, status.stderr


async def test_a_wrong_password_ends_a_command_with_one_line_and_exit_code_3(scram_user: Broker, tmp_path):
    secured_file(tmp_path, scram_user, uuid.uuid4().hex[:10])
    for command in (("publish", "-"), ("status",)):
        refused = crawlpipe(*command, cwd=tmp_path, password="not-the-password", stdin="http://127.0.0.1/\n")
        assert refused.returncode == 3, refused.stderr
        ours = [line for line in refused.stderr.splitlines() if line.startswith("crawlpipe ")]
        expected = (f"crawlpipe {command[0]}: Kafka at {scram_user.secure_bootstrap} refused user "
                    f"'{USER}' with SCRAM-SHA-512: check --sasl-username, --sasl-password and "
                    f"--sasl-mechanism (SaslAuthenticationFailed)")
        assert ours == [expected]
        assert "not-the-password" not in refused.stderr


async def test_a_broker_certificate_from_an_unknown_ca_is_refused_naming_the_setting(scram_user: Broker):
    config = KafkaConfig(bootstrap=scram_user.secure_bootstrap or "", security_protocol="SASL_SSL",
                         sasl_username=USER, sasl_password=PASSWORD, request_timeout_seconds=10)
    client = kafka.admin(config, client_id="test-untrusted")
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED: check --security-protocol, --ssl-cafile"):
        await kafka.start(client, config)
