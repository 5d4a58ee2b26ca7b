"""The scheduler stage's settings: where the schedule lives, how intervals adapt, how fast it dispatches.

Every default is here, documented once; ``crawlpipe config`` and docs/configuration.md show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.core.settings import require, setting

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    """The recrawl schedule: its storage, adaptive intervals and dispatch rate."""

    schedule_storage: str = setting(
        "sqlite:///var/scheduler.db",
        "where the schedule lives: sqlite:///REL.db or sqlite:////ABS.db (replicas on one machine may share "
        "the file), postgresql://USER@HOST:PORT/DB (replicas anywhere)")
    recrawl_rules: Path | None = setting(
        None, "site rules file (TOML; the parser's --rules): its sites' recrawl_min_interval / recrawl_max_interval")
    recrawl_initial_interval_seconds: float = setting(
        DAY, "interval after a product's first visit (clamped to its site's minimum and maximum)")
    recrawl_min_interval_seconds: float = setting(
        HOUR, "shortest interval between two visits of a product, for sites whose rules set none")
    recrawl_max_interval_seconds: float = setting(
        7 * DAY, "longest interval between two visits of a product, for sites whose rules set none")
    recrawl_shorten_factor: float = setting(
        0.5, "interval multiplier when price or availability changed since the last visit")
    recrawl_lengthen_factor: float = setting(1.5, "interval multiplier when nothing changed")
    max_misses: int = setting(
        3, "discontinued answers (404/410, product no longer on its page) in a row after which a product is no "
           "longer scheduled")
    max_recrawls_per_host_per_minute: int = setting(
        30, "most recrawl URLs one host gets per minute: never two closer than 60/N seconds")
    max_recrawls_per_second: float = setting(200.0, "most recrawl URLs this replica publishes per second in all")
    dispatch_interval_seconds: float = setting(1.0, "how often due URLs are looked for and published")
    schedule_batch_size: int = setting(1000, "product records per schedule transaction (capped by the window)")
    schedule_batch_max_delay_seconds: float = setting(0.5, "longest a record waits for its batch to fill")
    schedule_retry_seconds: float = setting(2.0, "wait before retrying after a transient storage error")
    schedule_cache_mb: int = setting(16, "SQLite page cache of the schedule (memory, not a bound on URLs)")
    overdue_after_seconds: float = setting(3600.0, "a URL due for longer than this counts as overdue (metrics)")
    gauge_interval_seconds: float = setting(
        15.0, "how often the schedule's gauges (due, overdue, scheduled per host) are counted; 0 turns it off")
    gauge_top_hosts: int = setting(20, "hosts with a scheduled-URLs gauge of their own; the rest count as 'other'")

    def __post_init__(self) -> None:
        require(self.recrawl_min_interval_seconds > 0, "recrawl_min_interval_seconds",
                self.recrawl_min_interval_seconds, "must be positive")
        require(self.recrawl_max_interval_seconds >= self.recrawl_min_interval_seconds,
                "recrawl_max_interval_seconds", self.recrawl_max_interval_seconds,
                "must be at least --recrawl-min-interval-seconds")
        require(self.recrawl_initial_interval_seconds > 0, "recrawl_initial_interval_seconds",
                self.recrawl_initial_interval_seconds, "must be positive")
        require(0 < self.recrawl_shorten_factor <= 1, "recrawl_shorten_factor", self.recrawl_shorten_factor,
                "must be above 0 and at most 1")
        require(self.recrawl_lengthen_factor >= 1, "recrawl_lengthen_factor", self.recrawl_lengthen_factor,
                "must be at least 1")
        require(self.max_misses >= 1, "max_misses", self.max_misses, "must be at least 1")
        require(self.dispatch_interval_seconds > 0, "dispatch_interval_seconds", self.dispatch_interval_seconds,
                "must be positive")
        # One URL per host per dispatch: a host's spacing can be no shorter than the dispatch interval.
        require(1 <= self.max_recrawls_per_host_per_minute <= 60 / self.dispatch_interval_seconds,
                "max_recrawls_per_host_per_minute", self.max_recrawls_per_host_per_minute,
                f"must be between 1 and 60 / --dispatch-interval-seconds "
                f"({60 / self.dispatch_interval_seconds:g}); lower the interval for more")
        require(self.max_recrawls_per_second > 0, "max_recrawls_per_second", self.max_recrawls_per_second,
                "must be positive")
        require(self.schedule_batch_size >= 1, "schedule_batch_size", self.schedule_batch_size,
                "must be at least 1")
        require(self.schedule_batch_max_delay_seconds > 0, "schedule_batch_max_delay_seconds",
                self.schedule_batch_max_delay_seconds, "must be positive")
        require(self.schedule_cache_mb >= 1, "schedule_cache_mb", self.schedule_cache_mb, "must be at least 1")
        require(self.gauge_interval_seconds >= 0, "gauge_interval_seconds", self.gauge_interval_seconds,
                "must be 0 (off) or positive")
        require(self.gauge_top_hosts >= 0, "gauge_top_hosts", self.gauge_top_hosts, "must be 0 or positive")

    @property
    def host_spacing_seconds(self) -> float:
        """Shortest time between two recrawl URLs of one host."""
        return 60.0 / self.max_recrawls_per_host_per_minute

    @property
    def dispatch_budget(self) -> int:
        """Most URLs one dispatch may publish."""
        return max(1, int(self.max_recrawls_per_second * self.dispatch_interval_seconds))
