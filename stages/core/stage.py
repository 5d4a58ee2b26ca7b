"""What a stage supplies to the shared loop: one hot-path method, ``handle``.

A stage of many small messages (the sink) may set ``batched`` and implement
``handle_batch`` instead: the runner then hands it each poll's messages in
one call, saving a task and a future per message. Everything else
(consuming, the window, offsets, backpressure, the DLQ, shutdown) is the
runner's job, so the three stages cannot drift apart.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.lag import Downstream
from stages.core.output import Output
from stages.core.settings import RunnerConfig
from stages.core.window import Window


@dataclass(frozen=True)
class StageContext:
    """What the runner lends a stage: the producer side, and the window to charge held bytes to."""

    output: Output
    window: Window


class Stage(ABC):
    name: ClassVar[str]
    #: Bytes of output held per byte of in-flight input, for the memory budget.
    output_ratio: ClassVar[float] = 1.0
    #: This stage's own defaults for RunnerConfig settings (CLI and environment still win).
    runner_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Whether the runner hands this stage a poll's messages together (``handle_batch``) or one per task.
    batched: ClassVar[bool] = False

    @property
    @abstractmethod
    def input_topic(self) -> str: ...

    @property
    def downstream(self) -> Downstream | None:
        """The topic and group whose lag pauses this stage; None for the last stage."""
        return None

    def extra_memory_bytes(self, runner: RunnerConfig) -> int:
        """Memory the stage's own configuration implies beyond the window (caches, batches)."""
        return 0

    async def start(self, context: StageContext) -> None:
        """Acquire resources (sessions, database pools) once per process."""

    async def handle(self, envelope: Envelope) -> None:
        """Process one message; return only when every output is acknowledged.

        Raise a CrawlpipeError for input that cannot be processed: the runner
        sends it to the DLQ and moves on. Any other exception is a bug and
        stops the stage.
        """
        raise NotImplementedError(f"{self.name} implements neither handle nor handle_batch")

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> list[CrawlpipeError | None]:
        """Process messages; return, for each, None or the error that sends it to the DLQ.

        As ``handle``, it returns only when every output is acknowledged, and
        any exception it raises is a bug that stops the stage.
        """
        errors: list[CrawlpipeError | None] = []
        for envelope in envelopes:
            try:
                await self.handle(envelope)
            except CrawlpipeError as error:
                errors.append(error)
            else:
                errors.append(None)
        return errors

    def attempt(self, envelope: Envelope) -> int:
        """The attempt count recorded in a DLQ record for this message."""
        return 1

    async def stop(self) -> None:
        """Release resources; called once, also after a failure."""
