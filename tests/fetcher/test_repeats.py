"""RepeatFilter: a followed link is fetched once per fetcher; seeds, retries and deferrals always pass."""

from __future__ import annotations

from stages.fetcher.repeats import RepeatFilter

URL = "http://127.0.0.1:8000/list/2.html"


def repeats() -> RepeatFilter:
    return RepeatFilter(capacity=1000, error_rate=0.001)


def test_a_followed_link_is_taken_once_then_skipped():
    f = repeats()
    assert not f.is_repeat({"url": URL, "depth": 1, "attempt": 1})
    assert f.is_repeat({"url": URL, "depth": 2, "attempt": 1})


def test_a_seed_published_again_is_fetched_again_and_links_back_to_it_are_skipped():
    f = repeats()
    assert not f.is_repeat({"url": URL, "depth": 0, "attempt": 1})
    assert not f.is_repeat({"url": URL, "depth": 0, "attempt": 1})
    assert f.is_repeat({"url": URL, "depth": 1, "attempt": 1})


def test_retries_and_deferrals_of_a_taken_link_pass():
    f = repeats()
    assert not f.is_repeat({"url": URL, "depth": 1, "attempt": 1})
    assert not f.is_repeat({"url": URL, "depth": 1, "attempt": 2, "not_before": 1.0})
    assert not f.is_repeat({"url": URL, "depth": 1, "attempt": 1, "not_before": 2.0})


def test_different_urls_are_not_repeats():
    f = repeats()
    assert not any(f.is_repeat({"url": f"{URL}?n={n}", "depth": 1, "attempt": 1}) for n in range(200))
