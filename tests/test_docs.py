"""The documentation builds, and its configuration reference matches the settings the code declares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stages.cli import stage_settings
from stages.core import settings
from stages.core.config import KafkaConfig, RunnerConfig
from stages.core.topics import TopicsConfig

ROOT = Path(__file__).resolve().parents[1]
NAV_PAGES = ("quickstart", "user-guide", "operations", "configuration", "architecture", "performance",
             "benchmarks")


def test_the_configuration_reference_is_what_crawlpipe_config_prints() -> None:
    check = subprocess.run([sys.executable, str(ROOT / "ops/docs/config-reference"), "--check"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_setting_is_in_the_configuration_reference() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    classes = (KafkaConfig, RunnerConfig, TopicsConfig, *[c for group in stage_settings().values() for c in group])
    missing = [option for option, env, _, _ in settings.describe(*classes)
               if f"`{option}`" not in reference or f"`{env}`" not in reference]
    assert not missing, f"run `.venv/bin/python ops/docs/config-reference`: {missing}"


@pytest.mark.timeout(180)
def test_mkdocs_builds_the_site_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="MkDocs is installed by the test extra (pip install -e '.[test]')")
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=150, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    for page in NAV_PAGES:
        assert (site / page / "index.html").is_file(), f"docs/{page}.md was not built"
