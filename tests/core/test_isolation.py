"""An unexpected exception is the failing message's DLQ record; a dependency's failure still propagates."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError

from stages.core import isolation
from stages.core.envelope import Envelope
from stages.core.errors import BadMessage, TransientError

ENVELOPE = Envelope("in", 0, 7, None, b"poison", (), 0)


def test_an_unexpected_exception_becomes_that_messages_error_naming_its_type():
    error = isolation.as_message_error("picky", ENVELOPE, OverflowError("date value out of range"))
    assert error.error_class == "unexpected" and not error.retriable
    assert "OverflowError: date value out of range" in str(error)
    assert isinstance(error.__cause__, OverflowError)


def test_a_crawlpipe_error_is_the_messages_error_as_it_is():
    refused = BadMessage("no", error_class="bad_url")
    assert isolation.as_message_error("picky", ENVELOPE, refused) is refused


def test_a_broker_or_storage_outage_is_not_blamed_on_a_message():
    assert isolation.is_dependency_failure(KafkaConnectionError())
    assert isolation.is_dependency_failure(TransientError("database restarting"))
    assert not isolation.is_dependency_failure(OverflowError())
