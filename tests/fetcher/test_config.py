"""FetchConfig: the defaults are valid, and bad values are refused by name."""

from __future__ import annotations

from dataclasses import fields

import pytest

from stages.core.errors import ConfigError
from stages.core.settings import env_name, load, option_name
from stages.fetcher.settings import FetchConfig

pytestmark = pytest.mark.timeout(5)


def test_defaults_are_valid_and_refuse_private_networks() -> None:
    config = FetchConfig()
    assert config.max_connections == 200
    assert config.max_connections_per_host == 8
    assert config.max_body_bytes == 8 * 1024 * 1024
    assert config.allowed_networks == ()
    assert config.obey_robots is True
    assert config.store_non_html is False


def test_constructor_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        FetchConfig("agent")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("max_connections", 0),
        ("max_connections_per_host", -1),
        ("max_body_bytes", 1.5),
        ("max_redirects", -1),
        ("read_timeout_seconds", 0),
        ("total_timeout_seconds", float("nan")),
        ("min_delay_per_host_seconds", -0.1),
        ("adaptive_delay_growth_factor", 1.0),
        ("adaptive_delay_decay_factor", 1.0),
        ("obey_robots", "yes"),
        ("user_agent", " "),
        ("allowed_networks", ("127.0.0.0/33",)),
        ("allowed_networks", ["127.0.0.0/8"]),
        ("max_connections_per_host", 500),
    ],
)
def test_bad_value_is_refused_naming_setting_and_value(setting: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        FetchConfig(**{setting: value})
    assert f"{option_name(setting)} / {env_name(setting)} = {value!r}" in str(caught.value)


def test_zero_redirects_means_never_follow() -> None:
    assert FetchConfig(max_redirects=0).max_redirects == 0


def test_every_setting_has_help_and_loads_from_the_environment() -> None:
    config = load(
        FetchConfig,
        env={"CRAWLPIPE_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128", "CRAWLPIPE_MAX_BODY_BYTES": "1024",
             "CRAWLPIPE_OBEY_ROBOTS": "false", "CRAWLPIPE_READ_TIMEOUT_SECONDS": "2.5"},
    )
    assert config.allowed_networks == ("127.0.0.0/8", "::1/128")
    assert (config.max_body_bytes, config.obey_robots, config.read_timeout_seconds) == (1024, False, 2.5)
    assert all(field.metadata.get("help") for field in fields(FetchConfig))
