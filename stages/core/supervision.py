"""A stage's background tasks (commits, lag watcher, memory guard, probes), kept running.

Each task is a step run every interval. A step that raises is retried with
backoff, its task reported down in ``Health`` meanwhile: a broker outage of any
length only delays the lag watcher, which used to stop on its first Kafka
error and leave backpressure off for good. A step that keeps failing with an
error that is not a dependency's (a bug) takes the stage down with a message
naming the task, rather than letting it run on without it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError

from stages.core.errors import CrawlpipeError
from stages.core.health import Health

log = logging.getLogger("crawlpipe.supervision")

Step = Callable[[], Awaitable[None] | None]

# Longest wait before retrying a failing step.
MAX_BACKOFF_SECONDS = 30.0
# How long a stopping supervisor waits for its cancelled tasks before cancelling them again.
CANCEL_AGAIN_SECONDS = 0.5
# Failures in a row, of errors that are no dependency's, after which a task is given up.
MAX_UNEXPECTED_FAILURES = 5


class BackgroundTaskFailed(CrawlpipeError):
    """A background task failed for good; the stage stops rather than run without it."""

    error_class = "background_task_failed"


def is_transient(error: BaseException) -> bool:
    """Errors a dependency's outage causes: worth retrying for as long as it lasts."""
    return isinstance(error, KafkaError | OSError | TimeoutError) or (
        isinstance(error, CrawlpipeError) and error.retriable)


class Supervisor:
    def __init__(self, stage: str, health: Health, *, on_fatal: Callable[[BaseException], None],
                 fatal: tuple[type[BaseException], ...] = (),
                 max_unexpected_failures: int = MAX_UNEXPECTED_FAILURES) -> None:
        self._stage = stage
        self._fatal = fatal
        self._health = health
        self._on_fatal = on_fatal
        self._max_unexpected = max_unexpected_failures
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def every(self, name: str, interval_seconds: float, step: Step) -> None:
        """Run ``step`` now and then every ``interval_seconds``, until ``stop``; return after the first try."""
        tried = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._run(name, interval_seconds, step, tried), name=name))
        await tried.wait()

    async def stop(self) -> None:
        """Cancel every task and wait for them to end.

        A step can swallow its cancellation (Python 3.11's ``asyncio.wait_for`` does when what it waits for
        finishes at that moment, and aiokafka waits with it): the task would then run on and the stage hang
        at shutdown. Each loop also ends at its next turn once stopping, and the cancellation is repeated
        until every task has ended.
        """
        self._stopping = True
        while running := [task for task in self._tasks if not task.done()]:
            for task in running:
                task.cancel()
            await asyncio.wait(running, timeout=CANCEL_AGAIN_SECONDS)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, name: str, interval: float, step: Step, tried: asyncio.Event) -> None:
        failures = unexpected = 0
        while not self._stopping:
            try:
                outcome = step()
                if inspect.isawaitable(outcome):
                    await outcome
            except self._fatal as exc:  # the step says the stage must stop (the memory guard's hard limit)
                tried.set()
                log.error("%s %s", self._stage, exc)
                self._on_fatal(exc)
                return
            except Exception as exc:
                tried.set()
                failures += 1
                unexpected = 0 if is_transient(exc) else unexpected + 1
                self._health.task_down(name, f"{type(exc).__name__}: {exc}")
                if unexpected >= self._max_unexpected:
                    log.exception("%s background task %s failed %d times in a row", self._stage, name, unexpected)
                    failure = BackgroundTaskFailed(
                        f"background task {name} failed {unexpected} times in a row, last with "
                        f"{type(exc).__name__}: {exc}; the stage cannot run without it")
                    failure.__cause__ = exc
                    self._on_fatal(failure)
                    return
                await asyncio.sleep(min(max(interval, 0.1) * 2 ** failures, MAX_BACKOFF_SECONDS))
                continue
            tried.set()
            failures = unexpected = 0
            self._health.task_up(name)
            await asyncio.sleep(interval)
