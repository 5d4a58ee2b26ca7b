"""Settings come from the CLI, then CRAWLPIPE_ environment, then defaults; bad values are named."""

from __future__ import annotations

import argparse

import pytest

from stages.core import settings
from stages.core.errors import ConfigError
from stages.core.settings import KafkaConfig, RunnerConfig


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
        KafkaConfig(compression_products="brotli")


def test_every_setting_is_documented():
    for option, env, _default, help_text in settings.describe(KafkaConfig, RunnerConfig):
        assert option.startswith("--") and env.startswith("CRAWLPIPE_")
        assert help_text, option


def test_a_stage_default_replaces_the_class_default_but_not_the_environment():
    defaults = {"max_in_flight": 32}
    assert settings.load(RunnerConfig, env={}, defaults=defaults).max_in_flight == 32
    assert settings.load(RunnerConfig, env={"CRAWLPIPE_MAX_IN_FLIGHT": "9"}, defaults=defaults).max_in_flight == 9


def test_a_stage_default_for_a_setting_that_does_not_exist_is_an_error():
    with pytest.raises(ConfigError, match="max_in_fligt"):
        settings.load(RunnerConfig, env={}, defaults={"max_in_fligt": 32})


def test_every_stage_declares_only_real_settings_as_its_defaults():
    from stages.cli import stage_defaults

    defaults = stage_defaults()
    assert defaults["parser"]["max_in_flight"] == 16 and defaults["sink"]["max_in_flight"] == 2000


def test_secrets_stay_out_of_repr():
    config = KafkaConfig(security_protocol="SASL_SSL", sasl_username="crawlpipe", sasl_password="hunter2",
                         ssl_key_password="keypass")
    assert "hunter2" not in repr(config) and "keypass" not in repr(config)
    assert "crawlpipe" in repr(config)


def test_sasl_needs_a_user_and_a_password_and_a_known_mechanism():
    with pytest.raises(ConfigError, match="--sasl-password"):
        KafkaConfig(security_protocol="SASL_SSL", sasl_username="u")
    with pytest.raises(ConfigError, match="--sasl-mechanism"):
        KafkaConfig(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p",
                    sasl_mechanism="GSSAPI")
    with pytest.raises(ConfigError, match="--security-protocol"):
        KafkaConfig(security_protocol="TLS")
