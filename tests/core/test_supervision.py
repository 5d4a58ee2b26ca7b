"""Background tasks restart after errors; one that keeps failing for no dependency's reason stops the stage."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaConnectionError

from stages.core.health import Health
from stages.core.supervision import BackgroundTaskFailed, Supervisor


async def test_a_task_failing_on_kafka_keeps_being_retried_and_recovers():
    health = Health("parser")
    failures: list[BaseException] = []
    outage = asyncio.Event()
    recovered = asyncio.Event()
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            outage.set()
            raise KafkaConnectionError("broker down")
        recovered.set()

    supervisor = Supervisor("parser", health, on_fatal=failures.append)
    await supervisor.every("lag_watcher", 0.0001, step)
    await asyncio.wait_for(outage.wait(), 5)
    assert health.tasks["lag_watcher"].up is False
    assert "background task lag_watcher down" in health.problems()[0]
    await asyncio.wait_for(recovered.wait(), 30)
    await supervisor.stop()
    assert failures == [] and health.tasks["lag_watcher"].up and health.problems() == []


async def test_a_task_that_keeps_failing_with_a_bug_takes_the_stage_down_with_its_name():
    failed = asyncio.get_running_loop().create_future()

    def step() -> None:
        raise ZeroDivisionError("division by zero")

    supervisor = Supervisor("sink", Health("sink"), on_fatal=failed.set_result, max_unexpected_failures=3)
    await supervisor.every("memory_guard", 0.0001, step)
    failure = await asyncio.wait_for(failed, 10)
    await supervisor.stop()
    assert isinstance(failure, BackgroundTaskFailed)
    assert "memory_guard failed 3 times in a row" in str(failure) and "ZeroDivisionError" in str(failure)


async def test_stop_ends_a_task_whose_step_swallowed_its_cancellation():
    # What Python 3.11's asyncio.wait_for does when the awaited future finishes as it is cancelled.
    swallowing = asyncio.Event()
    swallowed = 0

    calls = 0

    async def step() -> None:
        nonlocal calls, swallowed
        calls += 1
        if calls == 1:
            return
        swallowing.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed += 1
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()

    supervisor = Supervisor("sink", Health("sink"), on_fatal=lambda error: None)
    await supervisor.every("probe", 0.001, step)
    await asyncio.wait_for(swallowing.wait(), 5)
    await asyncio.wait_for(supervisor.stop(), 10)
    assert swallowed == 1
