"""The documentation builds, and docs/configuration.md holds the reference generated from the settings, current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stages.cli import file_sections, stage_defaults
from stages.core import settings
from stages.tools.settings_report import reference_markdown

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
NAV_PAGES = ("quickstart", "user-guide", "operations", "configuration", "architecture", "performance",
             "benchmarks")
MARKER = "do not edit below -->\n"


def test_the_reference_is_what_crawlpipe_config_markdown_prints():
    generated = CONFIGURATION.split(MARKER, 1)[1]
    assert generated == reference_markdown(file_sections(), stage_defaults()), (
        "run `crawlpipe config --markdown` and replace docs/configuration.md below the marker"
    )


def test_every_setting_is_in_it_including_logging_and_security():
    classes = {cls for group in file_sections().values() for cls in group}
    options = [option for option, *_ in settings.describe(*classes)]
    assert {"--log-level", "--log-format", "--sasl-password", "--ssl-cafile"} <= set(options)
    missing = [option for option in options if f"`{option}`" not in CONFIGURATION]
    assert not missing


@pytest.mark.timeout(180)
def test_mkdocs_builds_the_site_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=150, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    for page in NAV_PAGES:
        assert (site / page / "index.html").is_file(), f"docs/{page}.md was not built"
