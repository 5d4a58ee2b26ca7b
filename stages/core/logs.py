"""Logging set-up: plain lines for people, JSON lines for log pipelines.

One line per state change (paused, resumed, rebalanced), never one per page
at INFO.
"""

from __future__ import annotations

import logging
import sys

import orjson

from stages.core.errors import ConfigError
from stages.core.ratelimited_log import RepeatFilter


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


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure(level: str = "INFO", fmt: str = "plain", repeat_seconds: float = 30.0) -> None:
    """Log to stderr at ``level``; a line repeated within ``repeat_seconds`` is folded into a count."""
    if level.upper() not in LEVELS:
        raise ConfigError(f"--log-level / CRAWLPIPE_LOG_LEVEL = {level!r}: one of {', '.join(LEVELS)}")
    if fmt not in ("plain", "json"):
        raise ConfigError(f"--log-format / CRAWLPIPE_LOG_FORMAT = {fmt!r}: plain or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatFilter(repeat_seconds))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every coordinator hiccup at ERROR/WARNING while a group forms.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiokafka.consumer.group_coordinator").setLevel(logging.CRITICAL)
