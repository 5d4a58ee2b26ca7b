"""The fetcher stage's own settings: retries. HTTP settings are in ``config.py``."""

from __future__ import annotations

from dataclasses import dataclass

from stages.core.settings import require, setting


@dataclass(frozen=True, kw_only=True)
class RetryConfig:
    """Retries of timeouts, connection errors, 429 and 5xx."""

    max_attempts: int = setting(4, "tries per URL before it goes to the DLQ")
    retry_base_delay_seconds: float = setting(1.0, "first retry delay; doubles per attempt, with jitter")
    retry_max_delay_seconds: float = setting(60.0, "longest retry delay (also caps Retry-After)")

    def __post_init__(self) -> None:
        require(self.max_attempts >= 1, "max_attempts", self.max_attempts, "must be at least 1")
        require(0 < self.retry_base_delay_seconds <= self.retry_max_delay_seconds, "retry_base_delay_seconds",
                self.retry_base_delay_seconds, "must be positive and at most --retry-max-delay-seconds")
