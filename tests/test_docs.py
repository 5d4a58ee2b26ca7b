"""docs/configuration.md holds the reference generated from the settings definitions, complete and current."""

from __future__ import annotations

from pathlib import Path

from stages.cli import FILE_SECTIONS, stage_defaults
from stages.core import settings
from stages.tools.settings_report import reference_markdown

CONFIGURATION = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
MARKER = "do not edit below -->\n"


def test_the_reference_is_what_crawlpipe_config_markdown_prints():
    generated = CONFIGURATION.split(MARKER, 1)[1]
    assert generated == reference_markdown(FILE_SECTIONS, stage_defaults()), (
        "run `crawlpipe config --markdown` and replace docs/configuration.md below the marker"
    )


def test_every_setting_is_in_it_including_logging_and_security():
    classes = {cls for group in FILE_SECTIONS.values() for cls in group}
    options = [option for option, *_ in settings.describe(*classes)]
    assert {"--log-level", "--log-format", "--sasl-password", "--ssl-cafile"} <= set(options)
    missing = [option for option in options if f"`{option}`" not in CONFIGURATION]
    assert not missing
