"""How every ``crawlpipe`` command ends: an exit code the README promises, and one line saying why.

0 done, 1 failed, 2 configuration or environment error (a bad option, a
missing file or topic), 3 Kafka unreachable, 4 a stage stopped by its memory
guard, 130 interrupted. A traceback is
printed only with ``--debug`` (or ``CRAWLPIPE_DEBUG=1``): what a person meets
first is a line naming what to check.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from stages.core.errors import ConfigError, CrawlpipeError, KafkaUnavailable, MemoryExhausted

DONE, FAILED, CONFIG, KAFKA, MEMORY, INTERRUPTED = 0, 1, 2, 3, 4, 130


def debugging(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("CRAWLPIPE_DEBUG", "") in {"1", "true", "yes"}


def run(command: str, handler: Callable[[], int], *, debug: bool) -> int:
    """Run ``handler``; turn what it raises into an exit code and one line on stderr."""
    try:
        return handler()
    except BrokenPipeError:
        # The reader went away (`crawlpipe config | head`): not an error, and nothing more to say.
        _silence_stdout()
        return DONE
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as error:
        if debug:
            raise
        code, message = describe(error)
        print(f"crawlpipe {command}: {message}", file=sys.stderr)
        if code == FAILED and not isinstance(error, CrawlpipeError):
            print(f"crawlpipe {command}: run again with --debug for the traceback", file=sys.stderr)
        return code


def describe(error: Exception) -> tuple[int, str]:
    """The exit code and the line for ``error``."""
    if isinstance(error, ConfigError):
        return CONFIG, f"configuration error: {error}"
    if isinstance(error, KafkaUnavailable):
        return KAFKA, str(error)
    if isinstance(error, MemoryExhausted):
        return MEMORY, str(error)
    if isinstance(error, KafkaConnectionError | KafkaTimeoutError):
        return KAFKA, f"Kafka unreachable: {type(error).__name__}: {error}; check --bootstrap / CRAWLPIPE_BOOTSTRAP"
    if isinstance(error, CrawlpipeError):
        return FAILED, f"{error.error_class}: {error}"
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return CONFIG, f"environment error:{where}: {error.strerror or error}"
    return FAILED, f"unexpected error: {type(error).__name__}: {error}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
