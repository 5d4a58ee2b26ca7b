"""The built wheel is the whole product: installed alone in a fresh venv, it crawls.

Builds the wheel as ``ops/Dockerfile`` does, installs it (and its dependencies
from the package index) into a new virtual environment, and runs everything
from a folder outside the source tree with a clean environment, so nothing
can be found beside the sources: ``crawlpipe --help``, then one listing page
of the demo shop through fetcher, parser and sink on the test broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stages.core.settings import KafkaConfig
from stages.demoshop.catalog import Catalog
from tests.conftest import ROOT, eventually, kafka_env, sqlite_rows

# Installing a virtual environment's packages takes minutes on a busy machine, past the default 120 s.
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
                   check=True, timeout=300, cwd=out)
    return next(out.glob("crawlpipe-*.whl"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=120)
    subprocess.run([str(home / "bin/pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
                   check=True, timeout=600)
    return home


def test_the_wheel_holds_every_module_the_schemas_and_the_demo_rules(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "stages").rglob("*.py")}
    schemas = {f"stages/schemas/{p.name}" for p in (ROOT / "schemas").glob("*.schema.json")}
    assert modules - names == set(), "add the missing package to [tool.setuptools] packages in pyproject.toml"
    assert len(schemas) >= 5 and schemas <= names
    assert "stages/demoshop/rules.toml" in names


def clean_env(**extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **extra}


@pytest.fixture
def shop(venv: Path, tmp_path: Path) -> Iterator[str]:
    process = subprocess.Popen([str(venv / "bin/crawlpipe"), "shop", "--pages", "1"], stdout=subprocess.PIPE,
                               text=True, cwd=tmp_path, env=clean_env())
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


async def test_the_installed_wheel_runs_a_one_page_pipeline_without_the_source_tree(
        venv: Path, shop: str, kafka_config: KafkaConfig, tmp_path: Path):
    crawlpipe = str(venv / "bin/crawlpipe")
    where = subprocess.run([str(venv / "bin/python"), "-c", "import stages; print(stages.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path, env=clean_env()).stdout
    assert where.startswith(str(venv)), where
    helped = subprocess.run([crawlpipe, "--help"], capture_output=True, text=True, cwd=tmp_path, env=clean_env(),
                            check=False)
    assert helped.returncode == 0 and "fetcher" in helped.stdout, helped.stderr
    rules = subprocess.run([crawlpipe, "shop", "--print-rules"], capture_output=True, text=True, check=True,
                           cwd=tmp_path, env=clean_env()).stdout.strip()
    assert rules.startswith(str(venv))

    db = tmp_path / "products.db"
    env = clean_env(**kafka_env(kafka_config), CRAWLPIPE_ALLOWED_NETWORKS="127.0.0.0/8", CRAWLPIPE_RULES=rules,
                    CRAWLPIPE_FOLLOW_LINKS="false", CRAWLPIPE_STORAGE=f"sqlite:///{db}",
                    CRAWLPIPE_COMMIT_INTERVAL_SECONDS="0.2", CRAWLPIPE_BATCH_MAX_DELAY_SECONDS="0.1",
                    CRAWLPIPE_SESSION_TIMEOUT_SECONDS="6")
    published = subprocess.run([crawlpipe, "publish", "-"], input=f"{shop}/list/1.html\n", capture_output=True,
                               text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert published.returncode == 0, published.stderr
    expected = {(p["url"], p["title"]) for p in Catalog(pages=1).expected_products(shop)}
    stages = {name: subprocess.Popen([crawlpipe, name], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(tmp_path / f"{name}.log", "wb"))
              for name in ("fetcher", "parser", "sink")}
    try:
        def stored() -> set[tuple]:
            return set(sqlite_rows(db, "SELECT url, title FROM products"))
        await eventually(lambda: len(stored()) >= len(expected), what="the page's products stored by the wheel")
        assert stored() == expected
    finally:
        for process in stages.values():
            process.send_signal(signal.SIGTERM)
        for name, process in stages.items():
            assert process.wait(timeout=30) == 0, (tmp_path / f"{name}.log").read_text()
