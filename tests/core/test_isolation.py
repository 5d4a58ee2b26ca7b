"""An unexpected exception is the failing message's DLQ record; a dependency's failure still propagates."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from aiokafka.errors import KafkaConnectionError

from stages.core import isolation
from stages.core.envelope import Envelope
from stages.core.errors import CrawlpipeError
from stages.core.stage import Stage


class Picky(Stage):
    """Batched; any batch holding a poisoned message raises, as a bug would."""

    name = "picky"
    batched = True

    def __init__(self, error: Exception) -> None:
        self.handled: list[int] = []
        self._error = error

    @property
    def input_topic(self) -> str:
        return "in"

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> list[CrawlpipeError | None]:
        if any(e.value == b"poison" for e in envelopes):
            raise self._error
        self.handled += [e.offset for e in envelopes]
        return [None] * len(envelopes)


def envelopes(*values: bytes) -> list[Envelope]:
    return [Envelope("in", 0, offset, None, value, (), 0) for offset, value in enumerate(values)]


async def test_the_poisoned_message_alone_fails_and_the_others_are_handled():
    stage = Picky(OverflowError("date value out of range"))
    errors = await isolation.handle(stage, envelopes(b"a", b"poison", b"c"))
    assert errors[0] is None and errors[2] is None
    assert errors[1].error_class == "unexpected" and "OverflowError: date value out of range" in str(errors[1])
    assert sorted(stage.handled) == [0, 2]


async def test_a_broker_failure_is_not_blamed_on_a_message():
    with pytest.raises(KafkaConnectionError):
        await isolation.handle(Picky(KafkaConnectionError()), envelopes(b"poison"))
