"""The README documents every setting and the two fresh-machine commands."""

from __future__ import annotations

from pathlib import Path

from stages.cli import stage_settings
from stages.core import settings
from stages.core.config import KafkaConfig, RunnerConfig
from stages.core.topics import TopicsConfig

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_reference():
    classes = (KafkaConfig, RunnerConfig, TopicsConfig, *[c for group in stage_settings().values() for c in group])
    missing = [option for option, env, _, _ in settings.describe(*classes)
               if f"`{option}`" not in README or f"`{env}`" not in README]
    assert not missing, f"run `crawlpipe config --markdown` and update the README: {missing}"


def test_the_two_commands_are_there():
    assert "make demo" in README and "make test" in README
