"""The fetcher stage's own settings: retries, where URLs wait, repeated links. HTTP settings are in ``config.py``."""

from __future__ import annotations

from dataclasses import dataclass

from stages.core.settings import require, setting


@dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """Retries of timeouts, connection errors, 429 and 5xx; URLs waiting for their host; repeated links."""

    max_attempts: int = setting(4, "tries per URL before it goes to the DLQ")
    retry_base_delay_seconds: float = setting(1.0, "first retry delay; doubles per attempt, with jitter")
    retry_max_delay_seconds: float = setting(60.0, "longest retry delay (also caps Retry-After)")
    max_parked_messages: int = setting(
        1000, "URL messages that may wait for a busy host or a retry's time outside the window (~8 KiB each)"
    )
    max_parked_per_host: int = setting(32, "of those, how many may wait for one busy host")
    max_host_wait_seconds: float = setting(
        2.0, "a URL that cannot park waits this long in the window for its host, then is deferred through Kafka"
    )
    max_deferrals: int = setting(
        5, "times one URL may be deferred through Kafka for a busy or throttled host; one more sends it to the DLQ "
        "as deferred_too_often, with its history"
    )
    max_republishes_per_host_per_minute: int = setting(
        600, "deferrals and retries one host may send back to the URL topic per minute; past it its URLs wait in "
        "the fetcher"
    )
    skip_repeated_links: bool = setting(
        True, "skip a followed link this fetcher already took on (parser replicas publish shared links once each)"
    )
    repeats_capacity: int = setting(1_000_000, "URLs the repeated-link filter is sized for")
    repeats_error_rate: float = setting(0.001, "false-positive rate of that filter at capacity (a new link skipped)")

    def __post_init__(self) -> None:
        require(self.max_attempts >= 1, "max_attempts", self.max_attempts, "must be at least 1")
        require(0 < self.retry_base_delay_seconds <= self.retry_max_delay_seconds, "retry_base_delay_seconds",
                self.retry_base_delay_seconds, "must be positive and at most --retry-max-delay-seconds")
        require(self.max_parked_messages >= 0, "max_parked_messages", self.max_parked_messages, "must be at least 0")
        require(self.max_parked_per_host >= 0, "max_parked_per_host", self.max_parked_per_host, "must be at least 0")
        require(self.max_deferrals >= 0, "max_deferrals", self.max_deferrals, "must be at least 0")
        require(self.max_republishes_per_host_per_minute >= 0, "max_republishes_per_host_per_minute",
                self.max_republishes_per_host_per_minute, "must be at least 0")
        require(self.repeats_capacity >= 1, "repeats_capacity", self.repeats_capacity, "must be at least 1")
        require(0 < self.repeats_error_rate < 1, "repeats_error_rate", self.repeats_error_rate,
                "must be between 0 and 1")
        require(self.max_host_wait_seconds > 0, "max_host_wait_seconds", self.max_host_wait_seconds,
                "must be greater than 0")
