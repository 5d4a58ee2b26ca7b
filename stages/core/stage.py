"""What a stage supplies to the shared loop: what it does with one message, and what that gives.

A stage declares its input topic, the kinds of output it produces (each
mapped to a topic) and its settings classes, and implements ``handle``: given
one message, return its outputs as ``Emit``s. Core turns them into Kafka
records on the kind's topic (keys, partitions, shared batches), commits the
input's offset once they are acknowledged, sends a raised ``CrawlpipeError``
to the DLQ, and bounds all of it with the window (``runner.py``). A stage
whose work ends outside Kafka (the sink's storage transaction) returns a
future instead: the input is finished when it resolves.

A stage registers itself with ``registry.register`` (the built-in ones through
the ``crawlpipe.stages`` entry points), so adding one needs no change in core.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from stages.core.envelope import Envelope
from stages.core.health import Health
from stages.core.settings import KafkaConfig, RunnerConfig
from stages.core.window import Window

Headers = list[tuple[str, bytes]]


class Emit(NamedTuple):
    """One output of a handled message, of one of the stage's declared ``outputs`` kinds."""

    kind: str
    value: bytes
    key: bytes | None = None
    headers: Headers | None = None


#: What ``handle`` returns: outputs to produce, or a future that resolves when the stage's own
#: work for the message is durable (None) or has failed for this message (a ``CrawlpipeError``).
Outcome = Sequence[Emit] | asyncio.Future[None]


@dataclass(frozen=True)
class StageContext:
    """What the runner lends a stage at start: its window (for messages that wait on something else) and
    its health (a stage reports its own dependencies, e.g. storage)."""

    window: Window
    health: Health = field(default_factory=lambda: Health("stage"))


class Stage(ABC):
    name: ClassVar[str]
    #: The ``KafkaConfig`` topic field this stage consumes, e.g. ``"topic_pages"``.
    input: ClassVar[str]
    #: Output kind -> ``KafkaConfig`` topic field. The first kind is the stage's main output: the
    #: group of the stage that consumes its topic is the one whose lag pauses this stage.
    outputs: ClassVar[Mapping[str, str]] = {}
    #: Settings classes (``stages.core.settings``) the stage is built with, after the ``KafkaConfig``.
    settings: ClassVar[tuple[type, ...]] = ()
    #: This stage's own defaults for ``RunnerConfig`` settings (CLI, environment and file still win).
    runner_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Whether ``handle`` awaits I/O (each message then runs in its own task) or is CPU work
    #: (a poll's messages are handled one after another in one task).
    concurrent: ClassVar[bool] = False
    #: Memory held per byte of output awaiting acknowledgement, for the budget: the records (kept to
    #: resend them through a broker outage) and the batch they are packed in.
    output_ratio: ClassVar[float] = 2.0

    @abstractmethod
    def __init__(self, kafka_config: KafkaConfig, *settings: Any) -> None: ...

    def memory_bytes(self, runner: RunnerConfig) -> int:
        """Memory the stage's own settings imply beyond the window (caches, parse trees, streams)."""
        return 0

    async def start(self, context: StageContext) -> None:
        """Acquire resources (sessions, database pools) once per process."""

    @abstractmethod
    async def handle(self, message: Envelope) -> Outcome:
        """Process one message and return what it gives.

        Raise a ``CrawlpipeError`` for input that cannot be processed: core sends it to the DLQ
        and moves on (its ``attempt`` attribute, where set, goes into the DLQ record). Any other
        exception is a bug: it is charged to this message as an ``unexpected`` DLQ record
        (``isolation.py``), unless it says a dependency is down, which stops the stage.
        """

    def partitions_assigned(self) -> None:
        """A rebalance just gave this replica its partitions (work of others may have moved here)."""

    async def stop(self) -> None:
        """Release resources; called once, also after a failure."""
