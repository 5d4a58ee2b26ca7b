"""The window bounds in-flight work by count and bytes, and the memory guard can shrink it."""

from __future__ import annotations

from stages.core.window import Window


def test_count_and_bytes_both_bound_admission():
    window = Window(max_messages=3, max_bytes=100)
    window.acquire(60)
    assert window.has_room(40)
    assert not window.has_room(41)
    window.acquire(10)
    window.acquire(10)
    assert not window.has_room(0)
    window.release(60)
    assert window.has_room(80)


def test_an_empty_window_admits_one_message_larger_than_the_byte_bound():
    window = Window(max_messages=10, max_bytes=100)
    assert window.has_room(10_000)
    window.acquire(10_000)
    assert not window.has_room(1)


def test_charged_bytes_hold_the_window_until_refunded():
    window = Window(max_messages=10, max_bytes=100)
    window.acquire(10)
    window.charge(95)
    assert not window.has_room(1)
    window.refund(95)
    assert window.has_room(1)


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
    window.release(10)
    assert not window.has_room()
    window.release(10)
    assert window.has_room()
