"""Intervals: halved after a change, x1.5 otherwise, within the site's bounds from the rules file or the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.core.errors import ConfigError
from stages.parser.rules import load_rules
from stages.scheduler.policy import Bounds, Policy, changed
from stages.scheduler.settings import SchedulerConfig
from tests.scheduler.helpers import DAY, HOUR

RULES = """
[[site]]
name = "fast"
hosts = ["fast.test"]
recrawl_min_interval = 600
recrawl_max_interval = 7200

[[site]]
name = "slow-only"
hosts = ["*.slow.test"]
recrawl_min_interval = 864000

[[site]]
name = "plain"
hosts = ["plain.test"]
"""


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    return Policy(SchedulerConfig(), load_rules(rules))


def test_a_change_halves_the_interval_and_no_change_lengthens_it(policy: Policy) -> None:
    bounds = policy.bounds("plain", "plain.test")
    assert policy.next(DAY, bounds, changed=True) == DAY / 2
    assert policy.next(DAY, bounds, changed=False) == 1.5 * DAY


def test_intervals_stay_within_the_defaults_where_the_rules_set_none(policy: Policy) -> None:
    bounds = policy.bounds("plain", "plain.test")
    assert bounds == Bounds(HOUR, 7 * DAY)
    assert policy.next(1.2 * HOUR, bounds, changed=True) == HOUR
    assert policy.next(6 * DAY, bounds, changed=False) == 7 * DAY


def test_a_site_is_found_by_name_then_by_host(policy: Policy) -> None:
    assert policy.bounds("fast", "elsewhere.test") == Bounds(600, 7200)
    assert policy.bounds("127.0.0.1", "fast.test") == Bounds(600, 7200)
    assert policy.bounds("unknown", "unknown.test") == Bounds(HOUR, 7 * DAY)
    assert policy.first(policy.bounds("fast", "fast.test")) == 7200


def test_a_site_setting_one_bound_moves_the_other_default_out_of_its_way(policy: Policy) -> None:
    assert policy.bounds("slow-only", "a.slow.test") == Bounds(864000, 864000)


def test_prices_compare_as_decimals_and_availability_as_given() -> None:
    assert not changed("10.0", "InStock", "10.00", "InStock")
    assert changed("10.01", "InStock", "10.00", "InStock")
    assert changed("10.00", "OutOfStock", "10.00", "InStock")
    assert changed(None, "InStock", "10.00", "InStock")


def test_a_rules_file_with_its_bounds_upside_down_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[site]]\nhosts = ["x.test"]\nrecrawl_min_interval = 10\nrecrawl_max_interval = 5\n')
    with pytest.raises(ConfigError, match="recrawl_min_interval 10 is above recrawl_max_interval 5"):
        load_rules(rules)
