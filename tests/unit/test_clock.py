"""The statutory clock (R17, R19-R23) over the shipped PRC calendar: due dates, pauses, the one extension, breach."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.holidays import load_calendar
from workflow.domain.clock import (
    ClockLimits,
    StatutoryClock,
    correction_deadline,
    correction_notice_in_time,
    delivery_deadline,
    is_deemed_accepted,
)
from workflow.domain.errors import CalendarRangeError, GuardFailed, InvalidInput, PolicyError

CALENDAR = load_calendar()
D = date.fromisoformat


def test_r19_decision_is_due_20_working_days_after_acceptance_across_spring_festival_2016() -> None:
    # Working days after Mon 02-01: 02-02..05 (4), Sat 02-06 (5), Sun 02-14 (6), 02-15..19 (11),
    # 02-22..26 (16), 02-29 (17), 03-01..03 (20).
    assert StatutoryClock(D("2016-02-01")).due_date(CALENDAR) == D("2016-03-03")


def test_r19_decision_is_due_20_working_days_after_acceptance_across_spring_festival_2025() -> None:
    # 01-21..24 (4), Sun 01-26 (5), 01-27 (6), 02-05..07 (9), Sat 02-08 (10), 02-10..14 (15), 02-17..21 (20).
    assert StatutoryClock(D("2025-01-20")).due_date(CALENDAR) == D("2025-02-21")


def test_r19_acceptance_day_itself_does_not_count() -> None:
    clock = StatutoryClock(D("2019-06-10"))
    assert clock.working_days_used(CALENDAR, D("2019-06-10")) == 0
    assert clock.working_days_used(CALENDAR, D("2019-06-11")) == 1


def test_r19_a_day_before_acceptance_has_used_nothing() -> None:
    assert StatutoryClock(D("2019-06-10")).working_days_used(CALENDAR, D("2019-06-01")) == 0


def test_r19_r22_working_days_used_skips_the_spring_festival() -> None:
    clock = StatutoryClock(D("2016-02-01"))
    assert clock.working_days_used(CALENDAR, D("2016-02-13")) == 5
    assert clock.working_days_used(CALENDAR, D("2016-02-14")) == 6


PAUSED_OVER_SPRING_FESTIVAL = StatutoryClock(D("2016-01-25")).pause(D("2016-02-03")).resume(D("2016-02-16"))


def test_r21_a_pause_spanning_spring_festival_pushes_the_due_date() -> None:
    # Counted: 01-26..29 (4), 02-01..02 (6); paused 02-03..16 including both make-up days;
    # then 02-17..19 (9), 02-22..26 (14), 02-29 (15), 03-01..04 (19), 03-07 (20).
    assert StatutoryClock(D("2016-01-25")).due_date(CALENDAR) == D("2016-02-25")
    assert PAUSED_OVER_SPRING_FESTIVAL.due_date(CALENDAR) == D("2016-03-07")


def test_r21_days_paused_for_any_part_do_not_count() -> None:
    clock = PAUSED_OVER_SPRING_FESTIVAL
    assert clock.working_days_used(CALENDAR, D("2016-02-02")) == 6
    assert clock.working_days_used(CALENDAR, D("2016-02-03")) == 6  # the pause day
    assert clock.working_days_used(CALENDAR, D("2016-02-14")) == 6  # a make-up Sunday inside the pause
    assert clock.working_days_used(CALENDAR, D("2016-02-16")) == 6  # the resumption day
    assert clock.working_days_used(CALENDAR, D("2016-02-17")) == 7


def test_r21_pausing_and_resuming_on_the_same_day_removes_that_day() -> None:
    clock = StatutoryClock(D("2019-06-10")).pause(D("2019-06-12")).resume(D("2019-06-12"))
    assert clock.working_days_used(CALENDAR, D("2019-06-14")) == 3
    assert clock.due_date(CALENDAR) == D("2019-07-09")
    assert StatutoryClock(D("2019-06-10")).due_date(CALENDAR) == D("2019-07-08")


def test_r21_an_open_pause_has_no_due_date_and_is_never_breached() -> None:
    clock = StatutoryClock(D("2019-06-10")).pause(D("2019-06-20"))
    assert clock.is_paused
    assert clock.due_date(CALENDAR) is None
    assert clock.working_days_used(CALENDAR, D("2019-12-31")) == 7
    assert not clock.is_breached(CALENDAR, D("2019-12-31"))


def test_r21_a_pause_after_the_limit_ran_out_does_not_hide_the_breach() -> None:
    clock = StatutoryClock(D("2019-06-10")).pause(D("2019-07-15"))
    assert clock.due_date(CALENDAR) == D("2019-07-08")
    assert clock.is_breached(CALENDAR, D("2019-07-16"))


def test_r21_a_pause_starting_on_the_acceptance_day_is_allowed() -> None:
    clock = StatutoryClock(D("2019-06-10")).pause(D("2019-06-10")).resume(D("2019-06-11"))
    assert clock.working_days_used(CALENDAR, D("2019-06-12")) == 1


def test_r21_a_second_pause_counts_separately() -> None:
    clock = PAUSED_OVER_SPRING_FESTIVAL.pause(D("2016-02-22")).resume(D("2016-02-23"))
    assert clock.due_date(CALENDAR) == D("2016-03-09")


def test_r21_pausing_a_paused_clock_is_refused() -> None:
    with pytest.raises(GuardFailed) as raised:
        StatutoryClock(D("2019-06-10")).pause(D("2019-06-11")).pause(D("2019-06-12"))
    assert raised.value.rule_id == "R21"


def test_r21_resuming_a_running_clock_is_refused() -> None:
    with pytest.raises(GuardFailed) as raised:
        StatutoryClock(D("2019-06-10")).resume(D("2019-06-11"))
    assert raised.value.rule_id == "R21"


@pytest.mark.parametrize(
    "pauses",
    [
        ((D("2019-06-09"), D("2019-06-11")),),
        ((D("2019-06-12"), D("2019-06-11")),),
        ((D("2019-06-11"), None), (D("2019-06-13"), D("2019-06-14"))),
        ((D("2019-06-11"), D("2019-06-14")), (D("2019-06-13"), None)),
    ],
    ids=["r21_pause_before_acceptance", "r21_resume_before_pause", "r21_open_pause_not_last", "r21_overlapping"],
)
def test_r21_inconsistent_pauses_are_refused(pauses: tuple[tuple[date, date | None], ...]) -> None:
    with pytest.raises(InvalidInput):
        StatutoryClock(D("2019-06-10"), pauses=pauses)


def test_r21_resuming_before_the_pause_began_is_refused() -> None:
    with pytest.raises(InvalidInput):
        StatutoryClock(D("2019-06-10")).pause(D("2019-06-12")).resume(D("2019-06-11"))


def test_r20_extension_adds_10_working_days() -> None:
    # After 02-21: 02-24..28 (5), 03-03..07 (10).
    clock = StatutoryClock(D("2025-01-20")).extend()
    assert clock.limit_days == 30
    assert clock.due_date(CALENDAR) == D("2025-03-07")


def test_r20_a_second_extension_is_refused() -> None:
    with pytest.raises(GuardFailed) as raised:
        StatutoryClock(D("2025-01-20")).extend().extend()
    assert raised.value.rule_id == "R20"


def test_r19_breach_starts_the_day_after_the_due_date() -> None:
    clock = StatutoryClock(D("2016-02-01"))
    assert not clock.is_breached(CALENDAR, D("2016-03-03"))
    assert clock.is_breached(CALENDAR, D("2016-03-04"))


def test_r19_breach_starts_on_the_calendar_day_after_even_at_a_weekend() -> None:
    clock = StatutoryClock(D("2025-01-20"))  # due Friday 2025-02-21
    assert clock.is_breached(CALENDAR, D("2025-02-22"))
    assert clock.working_days_used(CALENDAR, D("2025-02-22")) == 20


def test_r19_fraction_used_reaches_three_quarters_on_the_fifteenth_working_day() -> None:
    clock = StatutoryClock(D("2025-01-20"))
    assert clock.fraction_used(CALENDAR, D("2025-02-13")) == Fraction(14, 20)
    assert clock.fraction_used(CALENDAR, D("2025-02-14")) == Fraction(3, 4)
    assert clock.fraction_used(CALENDAR, D("2025-02-24")) == Fraction(21, 20)


def test_r20_fraction_used_is_measured_against_the_extended_limit() -> None:
    clock = StatutoryClock(D("2025-01-20")).extend()
    assert clock.fraction_used(CALENDAR, D("2025-02-14")) == Fraction(15, 30)


def test_r19_a_policy_profile_may_shorten_the_decision_limit() -> None:
    clock = StatutoryClock(D("2016-02-01"), limits=ClockLimits(decision_days=6))
    assert clock.due_date(CALENDAR) == D("2016-02-14")


def test_r19_a_zero_decision_limit_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as raised:
        ClockLimits(decision_days=0)
    assert raised.value.field == "decision_days"


def test_r19_a_negative_extension_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as raised:
        ClockLimits(extension_days=-1)
    assert raised.value.field == "extension_days"


def test_r22_a_due_date_past_the_calendar_raises_instead_of_guessing() -> None:
    with pytest.raises(CalendarRangeError):
        StatutoryClock(D("2027-12-20")).due_date(CALENDAR)


def test_r17_correction_deadline_is_5_working_days_after_receipt() -> None:
    # After Fri 2016-02-05: Sat 02-06 (1), Sun 02-14 (2), 02-15 (3), 02-16 (4), 02-17 (5).
    assert correction_deadline(CALENDAR, D("2016-02-05")) == D("2016-02-17")


def test_r17_a_correction_notice_on_the_last_day_is_in_time_and_the_next_day_is_late() -> None:
    assert correction_notice_in_time(CALENDAR, D("2016-02-05"), D("2016-02-17"))
    assert not correction_notice_in_time(CALENDAR, D("2016-02-05"), D("2016-02-18"))


def test_r17_a_correction_notice_before_receipt_is_refused() -> None:
    with pytest.raises(InvalidInput):
        correction_notice_in_time(CALENDAR, D("2016-02-05"), D("2016-02-04"))


def test_r17_without_a_notice_the_application_is_deemed_accepted_once_the_window_closes() -> None:
    assert not is_deemed_accepted(CALENDAR, D("2016-02-05"), D("2016-02-17"))
    assert is_deemed_accepted(CALENDAR, D("2016-02-05"), D("2016-02-18"))


def test_r17_r19_deemed_acceptance_dates_the_clock_from_receipt() -> None:
    received = D("2016-02-05")
    assert is_deemed_accepted(CALENDAR, received, D("2016-02-18"))
    assert StatutoryClock(accepted_on=received).working_days_used(CALENDAR, D("2016-02-18")) == 6


def test_r17_a_policy_profile_may_change_the_correction_window() -> None:
    assert correction_deadline(CALENDAR, D("2016-02-05"), ClockLimits(correction_days=1)) == D("2016-02-06")


def test_r23_certificate_is_delivered_within_10_working_days_of_the_grant() -> None:
    # After Fri 2019-09-27: Sun 09-29 (1), 09-30 (2), 10-08..11 (6), Sat 10-12 (7), 10-14..16 (10).
    assert delivery_deadline(CALENDAR, D("2019-09-27")) == D("2019-10-16")


accepted_days = st.dates(min_value=D("2015-01-01"), max_value=D("2026-06-30"))
pause_plans = st.lists(st.tuples(st.integers(0, 25), st.integers(0, 25)), max_size=3)


def _clock_with_pauses(accepted_on: date, plan: list[tuple[int, int]]) -> StatutoryClock:
    clock, cursor = StatutoryClock(accepted_on), accepted_on
    for gap, length in plan:
        start = cursor + timedelta(days=gap)
        cursor = start + timedelta(days=length)
        clock = clock.pause(start).resume(cursor)
    return clock


@settings(derandomize=True, database=None, deadline=None, max_examples=150)
@given(accepted_on=accepted_days, plan=pause_plans, extended=st.booleans())
def test_r19_r21_the_limit_is_used_up_exactly_on_the_due_date(
    accepted_on: date, plan: list[tuple[int, int]], extended: bool
) -> None:
    clock = _clock_with_pauses(accepted_on, plan)
    clock = clock.extend() if extended else clock
    due = clock.due_date(CALENDAR)
    assert due is not None
    assert clock.working_days_used(CALENDAR, due) == clock.limit_days
    assert clock.working_days_used(CALENDAR, due - timedelta(days=1)) == clock.limit_days - 1
    assert not clock.is_breached(CALENDAR, due)
    assert clock.is_breached(CALENDAR, due + timedelta(days=1))


def test_a_pause_starting_on_the_day_the_previous_one_ended_pauses_that_day_once() -> None:
    """Found by the property above: 4 Jan 2015 was a make-up working day, paused by both pauses, counted twice."""
    clock = StatutoryClock(D("2015-01-01")).pause(D("2015-01-01")).resume(D("2015-01-04"))
    twice = clock.pause(D("2015-01-04")).resume(D("2015-01-04"))
    due = clock.due_date(CALENDAR)
    assert twice.due_date(CALENDAR) == due
    assert twice.working_days_used(CALENDAR, due) == clock.working_days_used(CALENDAR, due) == 20
