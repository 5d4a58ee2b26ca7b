"""Logging set-up: plain lines for people, JSON lines for log pipelines.

One line per state change (paused, resumed, rebalanced), never one per page
at INFO.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import orjson

from stages.core.ratelimited_log import RepeatFilter
from stages.core.settings import require, setting

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("plain", "json")


@dataclass(frozen=True, kw_only=True)
class LogConfig:
    """Log lines: how many, and in which format."""

    log_level: str = setting("INFO", "least severe level logged: DEBUG, INFO, WARNING or ERROR")
    log_format: str = setting("plain", "plain lines for people, or json lines for log pipelines")

    def __post_init__(self) -> None:
        require(self.log_level.upper() in LEVELS, "log_level", self.log_level, "one of " + ", ".join(LEVELS))
        require(self.log_format in FORMATS, "log_format", self.log_format, "one of " + ", ".join(FORMATS))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document).decode()


def configure(config: LogConfig, repeat_seconds: float = 30.0) -> None:
    """Log to stderr; a line repeated within ``repeat_seconds`` is folded into a count (an outage is quiet)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatFilter(repeat_seconds))
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.log_level.upper())
    # aiokafka logs every coordinator hiccup at ERROR/WARNING while a group forms.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiokafka.consumer.group_coordinator").setLevel(logging.CRITICAL)
