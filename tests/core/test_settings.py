"""Settings come from the CLI, then CRAWLPIPE_ environment, then defaults; bad values are named."""

from __future__ import annotations

import argparse

import pytest

from stages.core import settings
from stages.core.config import KafkaConfig, RunnerConfig
from stages.core.errors import ConfigError


def test_cli_beats_environment_beats_default():
    parser = argparse.ArgumentParser()
    settings.add_options(parser, RunnerConfig)
    env = {"CRAWLPIPE_MAX_IN_FLIGHT": "50", "CRAWLPIPE_COMMIT_INTERVAL_SECONDS": "3"}
    config = settings.load(RunnerConfig, parser.parse_args(["--max-in-flight", "7"]), env=env)
    assert config.max_in_flight == 7
    assert config.commit_interval_seconds == 3.0
    assert config.poll_timeout_seconds == RunnerConfig().poll_timeout_seconds


def test_unreadable_value_names_the_option_and_the_variable():
    with pytest.raises(ConfigError, match="--max-in-flight / CRAWLPIPE_MAX_IN_FLIGHT"):
        settings.load(RunnerConfig, env={"CRAWLPIPE_MAX_IN_FLIGHT": "lots"})


def test_inconsistent_values_are_refused_with_what_is_expected():
    with pytest.raises(ConfigError, match="must not exceed --lag-high-water-messages"):
        RunnerConfig(lag_high_water_messages=10, lag_low_water_messages=20)
    with pytest.raises(ConfigError, match="compression"):
        KafkaConfig(compression="brotli")


def test_every_setting_is_documented():
    for option, env, _default, help_text in settings.describe(KafkaConfig, RunnerConfig):
        assert option.startswith("--") and env.startswith("CRAWLPIPE_")
        assert help_text, option


def test_a_stage_default_replaces_the_class_default_but_not_the_environment():
    defaults = {"max_in_flight": 32}
    assert settings.load(RunnerConfig, env={}, defaults=defaults).max_in_flight == 32
    assert settings.load(RunnerConfig, env={"CRAWLPIPE_MAX_IN_FLIGHT": "9"}, defaults=defaults).max_in_flight == 9
