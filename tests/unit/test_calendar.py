"""The PRC working-day calendar (R22): the shipped table, the arithmetic over it and the validation of its data."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.holidays import DEFAULT_CALENDAR, load_calendar
from workflow.domain.calendar import WorkingCalendar
from workflow.domain.errors import CalendarRangeError, InvalidInput, PolicyError

CALENDAR = load_calendar()
D = date.fromisoformat


def _days(first: str, last: str) -> list[date]:
    start, end = D(first), D(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# Hand-checked against each year's State Council notice.
WORKING = [
    ("2015-01-04", "r22_2015_new_year_makeup_sunday"),
    ("2015-02-15", "r22_2015_spring_festival_makeup_sunday"),
    ("2015-09-06", "r22_2015_victory_day_makeup_sunday"),
    ("2015-10-10", "r22_2015_national_day_makeup_saturday"),
    ("2016-02-06", "r22_2016_spring_festival_makeup_saturday"),
    ("2016-02-14", "r22_2016_spring_festival_makeup_sunday"),
    ("2016-06-12", "r22_2016_dragon_boat_makeup_sunday"),
    ("2017-01-22", "r22_2017_spring_festival_makeup_sunday"),
    ("2017-09-30", "r22_2017_national_day_makeup_saturday"),
    ("2018-02-11", "r22_2018_spring_festival_makeup_sunday"),
    ("2018-12-29", "r22_2018_new_year_2019_makeup_saturday"),
    ("2019-04-28", "r22_2019_labour_day_makeup_sunday"),
    ("2019-05-05", "r22_2019_labour_day_makeup_sunday_after"),
    ("2020-01-19", "r22_2020_spring_festival_makeup_sunday"),
    ("2020-02-03", "r22_2020_first_day_back_after_covid_extension"),
    ("2021-09-18", "r22_2021_mid_autumn_makeup_saturday"),
    ("2022-01-29", "r22_2022_spring_festival_makeup_saturday"),
    ("2023-10-07", "r22_2023_national_day_makeup_saturday"),
    ("2023-10-08", "r22_2023_national_day_makeup_sunday"),
    ("2024-02-04", "r22_2024_spring_festival_makeup_sunday"),
    ("2024-02-09", "r22_2024_spring_festival_eve_friday_is_not_a_holiday"),
    ("2024-02-18", "r22_2024_spring_festival_makeup_sunday_after"),
    ("2025-01-26", "r22_2025_spring_festival_makeup_sunday"),
    ("2025-02-08", "r22_2025_spring_festival_makeup_saturday"),
    ("2025-04-27", "r22_2025_labour_day_makeup_sunday"),
    ("2026-01-04", "r22_2026_new_year_makeup_sunday"),
    ("2026-02-28", "r22_2026_spring_festival_makeup_saturday"),
    ("2026-09-20", "r22_2026_national_day_makeup_sunday"),
    ("2019-06-10", "r22_ordinary_monday"),
]
NOT_WORKING = [
    ("2015-09-03", "r22_2015_victory_day_thursday"),
    ("2015-09-04", "r22_2015_victory_day_friday_swapped"),
    ("2016-02-08", "r22_2016_spring_festival_monday"),
    ("2017-01-02", "r22_2017_new_year_monday_in_lieu"),
    ("2018-12-31", "r22_2019_new_year_closure_starts_in_2018"),
    ("2019-05-02", "r22_2019_labour_day_thursday"),
    ("2019-05-03", "r22_2019_labour_day_friday"),
    ("2020-01-31", "r22_2020_covid_extension_friday"),
    ("2020-02-01", "r22_2020_covid_extension_cancels_makeup_saturday"),
    ("2021-02-17", "r22_2021_spring_festival_wednesday"),
    ("2023-01-02", "r22_2023_new_year_monday"),
    ("2023-04-05", "r22_2023_qingming_wednesday"),
    ("2024-02-16", "r22_2024_spring_festival_friday"),
    ("2025-02-04", "r22_2025_spring_festival_tuesday"),
    ("2025-10-08", "r22_2025_national_day_wednesday"),
    ("2026-02-23", "r22_2026_spring_festival_monday"),
    ("2026-10-07", "r22_2026_national_day_wednesday"),
    ("2019-06-08", "r22_ordinary_saturday"),
    ("2019-06-09", "r22_ordinary_sunday"),
]


@pytest.mark.parametrize("day", [D(d) for d, _ in WORKING], ids=[i for _, i in WORKING])
def test_r22_hand_checked_working_days(day: date) -> None:
    assert CALENDAR.is_working_day(day)


@pytest.mark.parametrize("day", [D(d) for d, _ in NOT_WORKING], ids=[i for _, i in NOT_WORKING])
def test_r22_hand_checked_days_off(day: date) -> None:
    assert not CALENDAR.is_working_day(day)


def test_r22_2019_labour_day_is_off_from_may_1_to_may_4() -> None:
    assert [CALENDAR.is_working_day(d) for d in _days("2019-04-30", "2019-05-06")] == [
        True,  # Tue 04-30
        False,  # Wed 05-01
        False,
        False,
        False,  # Sat 05-04
        True,  # Sun 05-05, make-up
        True,  # Mon 05-06
    ]


# Weekdays in the year less its statutory holidays (11 days, 13 from 2025), adjusted for one-off closures.
WORKING_DAYS_PER_YEAR = {
    2015: 261 - 11 - 1,  # the 2015-09-03 Victory Day closure: Thu and Fri off, Sun 09-06 worked
    2016: 261 - 11,
    2017: 260 - 11,
    2018: 261 - 11,
    2019: 261 - 11,
    2020: 262 - 11 - 2,  # the COVID-19 extension took Fri 01-31 and the make-up Sat 02-01
    2021: 261 - 11,
    2022: 260 - 11,
    2023: 260 - 11,
    2024: 262 - 11,
    2025: 261 - 13,
    2026: 261 - 13,
    2027: 261 - 13,
}


@pytest.mark.parametrize(
    ("year", "expected"), WORKING_DAYS_PER_YEAR.items(), ids=[f"r22_{y}" for y in WORKING_DAYS_PER_YEAR]
)
def test_r22_each_year_has_its_statutory_count_of_working_days(year: int, expected: int) -> None:
    assert sum(CALENDAR.is_working_day(d) for d in _days(f"{year}-01-01", f"{year}-12-31")) == expected


def test_r22_spring_festival_2016_makeup_saturday_is_the_next_working_day_after_friday() -> None:
    assert CALENDAR.next_working_day(D("2016-02-05")) == D("2016-02-06")


def test_r22_spring_festival_2016_holidays_are_skipped_up_to_the_makeup_sunday() -> None:
    assert CALENDAR.next_working_day(D("2016-02-06")) == D("2016-02-14")


def test_r22_ordinary_weekend_is_skipped() -> None:
    assert CALENDAR.next_working_day(D("2016-03-04")) == D("2016-03-07")


def test_r22_spring_festival_2025_counts_the_makeup_days_on_both_sides() -> None:
    assert CALENDAR.add_working_days(D("2025-01-24"), 3) == D("2025-02-05")  # 01-26 (Sun), 01-27, then 02-05


def test_r22_new_year_2019_crosses_the_year_boundary() -> None:
    assert CALENDAR.next_working_day(D("2018-12-29")) == D("2019-01-02")
    assert CALENDAR.working_days_between(D("2018-12-28"), D("2019-01-02")) == 2


def test_r22_new_year_2023_starts_on_the_last_day_of_2022() -> None:
    assert CALENDAR.next_working_day(D("2022-12-30")) == D("2023-01-03")


def test_r22_working_days_between_counts_the_end_but_not_the_start() -> None:
    assert CALENDAR.working_days_between(D("2019-06-10"), D("2019-06-14")) == 4
    assert CALENDAR.working_days_between(D("2019-06-10"), D("2019-06-10")) == 0


def test_r22_adding_zero_working_days_returns_the_start_even_on_a_holiday() -> None:
    assert CALENDAR.add_working_days(D("2016-02-08"), 0) == D("2016-02-08")


def test_r22_adding_from_a_holiday_counts_from_the_next_working_day() -> None:
    assert CALENDAR.add_working_days(D("2016-02-08"), 1) == D("2016-02-14")


def test_r22_adding_a_negative_number_of_working_days_is_refused() -> None:
    with pytest.raises(InvalidInput):
        CALENDAR.add_working_days(D("2019-06-10"), -1)


def test_r22_counting_backwards_is_refused() -> None:
    with pytest.raises(InvalidInput):
        CALENDAR.working_days_between(D("2019-06-14"), D("2019-06-10"))


def test_r22_a_datetime_is_refused_because_it_never_matches_a_holiday() -> None:
    with pytest.raises(InvalidInput):
        CALENDAR.is_working_day(datetime(2016, 2, 8, 9, 0))


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.is_working_day(D("2014-12-31")),
        lambda c: c.is_working_day(D("2028-01-03")),
        lambda c: c.next_working_day(D("2014-12-31")),
        lambda c: c.working_days_between(D("2014-12-31"), D("2015-01-05")),
        lambda c: c.working_days_between(D("2027-12-01"), D("2028-01-03")),
        lambda c: c.add_working_days(D("2027-12-30"), 2),
        lambda c: c.next_working_day(D("2027-12-31")),
        lambda c: c.is_estimated(D("2028-01-03")),
    ],
    ids=[
        "r22_before_table",
        "r22_after_table",
        "r22_next_from_before_table",
        "r22_between_starting_before_table",
        "r22_between_ending_after_table",
        "r22_adding_runs_past_the_table",
        "r22_next_after_last_day",
        "r22_estimate_query_after_table",
    ],
)
def test_r22_a_date_outside_the_table_raises_instead_of_counting_weekdays(
    call: Callable[[WorkingCalendar], object],
) -> None:
    with pytest.raises(CalendarRangeError):
        call(CALENDAR)


def test_r22_the_last_working_day_of_the_table_is_still_reachable() -> None:
    assert CALENDAR.add_working_days(D("2027-12-30"), 1) == D("2027-12-31")


def test_r22_only_2027_is_an_estimate() -> None:
    assert CALENDAR.estimated_years == frozenset({2027})
    assert CALENDAR.is_estimated(D("2027-02-08"))
    assert not CALENDAR.is_estimated(D("2026-12-31"))


def test_r22_loader_round_trips_the_shipped_file() -> None:
    data = tomllib.loads(DEFAULT_CALENDAR.read_text(encoding="utf-8"))
    assert load_calendar(DEFAULT_CALENDAR) == WorkingCalendar.from_mapping(data) == CALENDAR
    assert (CALENDAR.first_day, CALENDAR.last_day) == (D("2015-01-01"), D("2027-12-31"))
    assert sorted(data["years"]) == [str(y) for y in range(2015, 2028)]


def test_r22_loader_names_the_file_for_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("first_day = 2015-01-01\nyears = [", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"broken\.toml"):
        load_calendar(path)


def test_r22_loader_names_the_file_for_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"absent\.toml"):
        load_calendar(tmp_path / "absent.toml")


def test_r22_loader_names_the_file_the_key_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "weekday_makeup.toml"
    path.write_text(
        'first_day = 2016-01-01\nlast_day = 2016-12-31\n[years.2016]\nstatus = "official"\n'
        'holidays = []\nmakeup_workdays = ["2016-02-08"]\n',
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as raised:
        load_calendar(path)
    assert "weekday_makeup.toml" in raised.value.message
    assert "years.2016.makeup_workdays" in raised.value.message
    assert "Saturday or Sunday" in raised.value.message
    assert raised.value.field == "years.2016.makeup_workdays"


def _valid() -> dict[str, Any]:
    return {
        "first_day": D("2016-01-01"),
        "last_day": "2017-12-31",
        "years": {
            "2016": {"status": "official", "holidays": ["2016-02-08"], "makeup_workdays": ["2016-02-06"]},
            "2017": {"status": "estimate", "source": "guess", "holidays": [D("2017-01-02")], "makeup_workdays": []},
        },
    }


def test_r22_a_minimal_mapping_builds_a_calendar() -> None:
    calendar = WorkingCalendar.from_mapping(_valid())
    assert calendar.is_working_day(D("2016-02-06"))
    assert not calendar.is_working_day(D("2017-01-02"))
    assert calendar.estimated_years == frozenset({2017})


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target = data
        for part in parents:
            target = target[part]
        target[last] = value

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target = data
        for part in parents:
            target = target[part]
        del target[last]

    return apply


MALFORMED = [
    (_drop("first_day"), "first_day", "must be a date", "r22_missing_first_day"),
    (_set("last_day", "2017-13-01"), "last_day", "not an ISO date", "r22_impossible_last_day"),
    (_set("first_day", "2018-01-01"), "first_day", "after last_day", "r22_coverage_reversed"),
    (_set("years", []), "years", "must be a table", "r22_years_not_a_table"),
    (_drop("years/2017"), "years.2017", "missing", "r22_year_missing_from_coverage"),
    (
        _set("years/2019", {"status": "official", "holidays": [], "makeup_workdays": []}),
        "years.2019",
        "outside",
        "r22_year_outside_coverage",
    ),
    (_set("years/2016/holidays", ["2016-02-06"]), "years.2016.holidays", "both", "r22_holiday_also_a_makeup_day"),
    (
        _set("years/2016/makeup_workdays", ["2016-02-06", "2016-02-09"]),
        "years.2016.makeup_workdays",
        "Saturday or Sunday",
        "r22_makeup_on_a_weekday",
    ),
    (
        _set("years/2017/holidays", ["2018-01-01"]),
        "years.2017.holidays[0]",
        "not in 2017",
        "r22_holiday_under_the_wrong_year",
    ),
    (
        _set("years/2017/holidays", ["2017-01-02", "2017-01-02"]),
        "years.2017.holidays[1]",
        "twice",
        "r22_holiday_listed_twice",
    ),
    (_set("years/2016/holidays", "2016-02-08"), "years.2016.holidays", "must be a list", "r22_holidays_not_a_list"),
    (_set("years/2016/holidays", [20160208]), "years.2016.holidays[0]", "must be a date", "r22_holiday_not_a_date"),
    (
        _set("years/2016/holidays", [datetime(2016, 2, 8, 0, 0)]),
        "years.2016.holidays[0]",
        "must be a date",
        "r22_holiday_a_datetime",
    ),
    (_drop("years/2016/status"), "years.2016.status", "must be one of", "r22_status_missing"),
    (_set("years/2016/status", "rumour"), "years.2016.status", "must be one of", "r22_status_unknown"),
    (_set("years/2016/source", 7), "years.2016.source", "must be a string", "r22_source_not_a_string"),
    (_set("years/2016/makeup_days", []), "years.2016.makeup_days", "unknown key", "r22_misspelt_year_key"),
    (_set("frist_day", "2016-01-01"), "frist_day", "unknown key", "r22_misspelt_top_level_key"),
    (
        _set("years/16", {"status": "official", "holidays": [], "makeup_workdays": []}),
        "years.16",
        "outside",
        "r22_two_digit_year",
    ),
    (
        _set("years/next", {"status": "official", "holidays": [], "makeup_workdays": []}),
        "years.next",
        "year number",
        "r22_year_key_not_a_number",
    ),
]


@pytest.mark.parametrize(("mutate", "key", "reason"), [m[:3] for m in MALFORMED], ids=[m[3] for m in MALFORMED])
def test_r22_malformed_data_raises_policy_error_naming_the_key(
    mutate: Callable[[dict[str, Any]], None], key: str, reason: str
) -> None:
    data = _valid()
    mutate(data)
    with pytest.raises(PolicyError) as raised:
        WorkingCalendar.from_mapping(data)
    assert raised.value.message.startswith(f"{key}: ")
    assert reason in raised.value.message
    assert raised.value.field == key


def test_r22_a_calendar_built_directly_is_validated_too() -> None:
    with pytest.raises(PolicyError, match=r"years\.2016\.holidays: 2016-02-08 is outside coverage"):
        WorkingCalendar(D("2016-03-01"), D("2016-12-31"), frozenset({D("2016-02-08")}), frozenset())


FIRST, LAST = CALENDAR.first_day, CALENDAR.last_day
# Leaves room at the end of the table for n up to 60 working days.
covered_days = st.dates(min_value=FIRST, max_value=LAST - timedelta(days=120))
property_settings = settings(derandomize=True, database=None, deadline=None, max_examples=200)


@property_settings
@given(start=covered_days, n=st.integers(min_value=1, max_value=60))
def test_r22_adding_n_working_days_lands_on_a_working_day_exactly_n_away(start: date, n: int) -> None:
    end = CALENDAR.add_working_days(start, n)
    assert end > start
    assert CALENDAR.is_working_day(end)
    assert CALENDAR.working_days_between(start, end) == n
    assert CALENDAR.working_days_between(start, end - timedelta(days=1)) == n - 1


@property_settings
@given(days=st.lists(covered_days, min_size=3, max_size=3))
def test_r22_counts_add_up_over_consecutive_spans(days: list[date]) -> None:
    a, b, c = sorted(days)
    assert CALENDAR.working_days_between(a, b) + CALENDAR.working_days_between(b, c) == (
        CALENDAR.working_days_between(a, c)
    )


@property_settings
@given(day=covered_days)
def test_r22_next_working_day_skips_only_days_off(day: date) -> None:
    following = CALENDAR.next_working_day(day)
    skipped = [day + timedelta(days=i) for i in range(1, (following - day).days)]
    assert CALENDAR.is_working_day(following)
    assert not any(CALENDAR.is_working_day(d) for d in skipped)
