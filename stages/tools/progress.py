"""Progress for long commands: a live bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

PLAIN_EVERY_SECONDS = 5.0


@contextmanager
def counter(what: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Yield ``update(done)``; shows a rich progress bar on a TTY, a line every few seconds elsewhere."""
    if sys.stderr.isatty():
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed}"),
                      TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task(what, total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    last = time.monotonic()

    def update(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PLAIN_EVERY_SECONDS:
            print(f"{what}: {done}", file=sys.stderr)
            last = now

    yield update
