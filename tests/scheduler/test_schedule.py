"""What records do to schedule entries: redeliveries change nothing, misses count, a product revives."""

from __future__ import annotations

from stages.scheduler.policy import Policy
from stages.scheduler.schedule import plan_batch
from stages.scheduler.settings import SchedulerConfig
from tests.scheduler.helpers import DAY, HOUR, discontinued, product

T0 = 1_700_000_000.0
POLICY = Policy(SchedulerConfig(max_misses=2))


def test_a_redelivered_record_changes_nothing() -> None:
    first = plan_batch([product("p", "a.test", "1.00", T0)], {}, POLICY).entries[0]
    again = plan_batch([product("p", "a.test", "2.00", T0)], {"p": first}, POLICY)
    assert again.entries == [] and again.ignored == 1


def test_records_of_one_batch_apply_in_order() -> None:
    planned = plan_batch([product("p", "a.test", "1.00", T0), product("p", "a.test", "1.50", T0 + DAY)], {}, POLICY)
    [entry] = planned.entries
    assert (entry.interval_seconds, entry.due_at, entry.price) == (DAY / 2, T0 + DAY + DAY / 2, "1.50")


def test_misses_unschedule_and_a_product_record_revives() -> None:
    entry = plan_batch([product("p", "a.test", "1.00", T0)], {}, POLICY).entries[0]
    planned = plan_batch([discontinued("p", "a.test", T0 + DAY), discontinued("p", "a.test", T0 + DAY + HOUR)],
                         {"p": entry}, POLICY)
    [gone] = planned.entries
    assert (gone.misses, gone.due_at, planned.misses, planned.given_up) == (2, None, 2, 1)
    [back] = plan_batch([product("p", "a.test", "1.00", T0 + 2 * DAY)], {"p": gone}, POLICY).entries
    assert (back.misses, back.interval_seconds, back.due_at) == (0, 1.5 * DAY, T0 + 2 * DAY + 1.5 * DAY)


def test_a_discontinued_record_of_an_unknown_product_is_ignored() -> None:
    planned = plan_batch([discontinued("never", "a.test", T0)], {}, POLICY)
    assert planned.entries == [] and planned.ignored == 1
