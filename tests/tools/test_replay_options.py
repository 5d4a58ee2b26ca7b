"""What ``crawlpipe replay`` accepts before it touches Kafka: its start instant and its group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stages.core.errors import ConfigError
from stages.core.messages import parse_since
from stages.core.settings import KafkaConfig
from stages.tools.replay import replay_group


def test_since_reads_iso_8601_and_takes_an_instant_without_offset_as_utc():
    assert parse_since("2026-11-27T08:00:00Z") == datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert parse_since("2026-11-27T09:00:00+01:00") == datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert parse_since("2026-11-27T08:00").utcoffset() == timedelta(0)
    assert parse_since("2026-11-27").tzinfo is UTC
    assert parse_since("2026-11-27T09:00:00+01:00").tzinfo == timezone(timedelta(hours=1))


def test_a_bad_timestamp_is_a_configuration_error_naming_the_option():
    with pytest.raises(ConfigError, match="--since 'yesterday'"):
        parse_since("yesterday")


def test_the_replay_group_defaults_beside_the_live_one_and_may_never_be_it():
    config = KafkaConfig(group_prefix="shop")
    assert replay_group(config, None) == "shop-parser-replay"
    assert replay_group(config, "rules-v2") == "rules-v2"
    with pytest.raises(ConfigError, match="live parser group"):
        replay_group(config, "shop-parser")
