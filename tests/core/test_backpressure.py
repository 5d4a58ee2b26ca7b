"""Pause reasons combine, and lag backpressure has hysteresis (no flapping between the marks)."""

from __future__ import annotations

from stages.core.lag import Downstream, LagWatcher
from stages.core.pausing import PauseState
from stages.core.settings import RunnerConfig
from tests.core.fakes import TPS, FakeConsumer


def test_input_stays_paused_until_every_reason_is_cleared():
    consumer = FakeConsumer()
    changes = []
    state = PauseState(consumer, "fetcher", on_change=changes.append)
    state.set("lag", "high")
    state.set("memory", "high")
    assert consumer.paused() == TPS
    state.clear("lag")
    assert consumer.paused() == TPS
    state.clear("memory")
    assert consumer.paused() == set()
    assert changes == [frozenset({"lag"}), frozenset({"lag", "memory"}), frozenset({"memory"}), frozenset()]


def test_lag_between_the_marks_keeps_the_current_state():
    consumer = FakeConsumer()
    pauses = PauseState(consumer, "fetcher")
    config = RunnerConfig(lag_high_water_messages=100, lag_low_water_messages=50)
    watcher = LagWatcher(config, Downstream("pages", "g"), admin_client=None, probe=None, pauses=pauses)
    sequence = [10, 80, 101, 80, 60, 50, 49, 80, 100]
    states = []
    for lag in sequence:
        watcher._decide(lag, 0)
        states.append(pauses.paused)
    assert states == [False, False, True, True, True, True, False, False, False]


def test_byte_lag_alone_can_pause():
    pauses = PauseState(FakeConsumer(), "fetcher")
    config = RunnerConfig(lag_high_water_bytes=1000, lag_low_water_bytes=500)
    watcher = LagWatcher(config, Downstream("pages", "g"), admin_client=None, probe=None, pauses=pauses)
    watcher._decide(1, 2000)
    assert pauses.reasons == {"lag"}
    watcher._decide(1, 400)
    assert not pauses.paused
