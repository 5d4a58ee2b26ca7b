"""The window bounds work being processed by count and bytes, and outputs awaiting acks by bytes."""

from __future__ import annotations

import asyncio

from stages.core.window import Window


def test_count_and_bytes_both_bound_admission():
    window = Window(max_messages=3, max_bytes=100)
    window.acquire(60)
    assert window.has_room(40)
    assert not window.has_room(41)
    window.acquire(10)
    window.acquire(10)
    assert not window.has_room(0)
    window.hand_over(60)
    assert window.has_room(80)


def test_an_empty_window_admits_one_message_larger_than_the_byte_bound():
    window = Window(max_messages=10, max_bytes=100)
    assert window.has_room(10_000)
    window.acquire(10_000)
    assert not window.has_room(1)


def test_a_processed_message_frees_its_input_while_its_outputs_hold_the_unacked_bound():
    window = Window(max_messages=10, max_bytes=100, max_unacked_bytes=50)
    window.acquire(90)
    assert not window.has_room(20)
    window.hand_over(90, 51)
    assert (window.messages, window.bytes, window.unacked_bytes) == (0, 0, 51)
    assert not window.has_room(1), "outputs over the unacked bound keep new input out"
    window.acknowledged(51)
    assert window.has_room(100)


async def test_waiting_for_room_ends_when_outputs_are_acknowledged():
    window = Window(max_messages=10, max_bytes=100, max_unacked_bytes=10)
    window.acquire(5)
    window.hand_over(5, 11)
    waiting = asyncio.ensure_future(window.wait_for_room())
    await asyncio.sleep(0)
    assert not waiting.done()
    window.acknowledged(11)
    await asyncio.wait_for(waiting, 1)


def test_shrink_halves_down_to_one_and_grow_restores():
    window = Window(max_messages=8, max_bytes=1000)
    for _ in range(5):
        window.shrink()
    assert window.limit_messages == 1 and window.shrunk
    for _ in range(5):
        window.grow()
    assert window.limit_messages == 8 and not window.shrunk


def test_a_lent_message_makes_room_and_takes_its_count_back():
    window = Window(max_messages=2, max_bytes=1000)
    window.acquire(10)
    window.acquire(10)
    assert not window.has_room()
    with window.lent(limit=1) as lent:
        assert lent and window.has_room() and window.bytes == 20
        window.acquire(10)
        with window.lent(limit=1) as second:
            assert not second and not window.has_room()
    assert window.messages == 3 and not window.has_room()
    window.hand_over(10)
    assert not window.has_room()
    window.hand_over(10)
    assert window.has_room()
