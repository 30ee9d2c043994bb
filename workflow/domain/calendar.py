"""The PRC working-day calendar (R22): a holiday table handed in as plain data, and working-day arithmetic over it.

Pure: the table is parsed elsewhere (config/holidays.py); no date outside the table is ever guessed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from workflow.domain.errors import CalendarRangeError, InvalidInput, PolicyError

ONE_DAY = timedelta(days=1)
_SATURDAY = 5
_STATUSES = frozenset({"official", "estimate"})
_TOP_KEYS = frozenset({"first_day", "last_day", "years"})
_YEAR_KEYS = frozenset({"status", "source", "holidays", "makeup_workdays"})


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days count as working days (R22): Monday to Friday, less the holidays, plus the make-up days.

    `holidays` are closure days under the State Council's yearly notice; `makeup_workdays` are the weekend
    days it turns into working days (调休上班). `estimated_years` are years whose table is a forecast, not
    the published notice. Every method refuses a date outside [first_day, last_day] with CalendarRangeError.
    """

    first_day: date
    last_day: date
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    estimated_years: frozenset[int] = frozenset()
    # Sorted working days of the whole table, so each question is a binary search, not a day-by-day walk.
    _working_days: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_table(self)
        object.__setattr__(
            self, "_working_days", tuple(d for d in _days(self.first_day, self.last_day) if self._works(d))
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkingCalendar:
        """Build the calendar (R22) from parsed data shaped like config/calendars/prc.toml.

        Raises PolicyError naming the key and the reason on any malformed entry.
        """
        _reject_unknown_keys("", data, _TOP_KEYS)
        years = [
            _parse_year(f"years.{key}", key, value) for key, value in _require_table("years", data.get("years")).items()
        ]
        calendar = cls(
            first_day=_parse_day("first_day", data.get("first_day")),
            last_day=_parse_day("last_day", data.get("last_day")),
            holidays=frozenset(d for year in years for d in year.holidays),
            makeup_workdays=frozenset(d for year in years for d in year.makeup_workdays),
            estimated_years=frozenset(year.number for year in years if year.status == "estimate"),
        )
        _check_every_year_listed(calendar, {year.number for year in years})
        return calendar

    def is_working_day(self, day: date) -> bool:
        """Whether `day` is a working day (R22)."""
        return self._works(self._covered(day))

    def is_estimated(self, day: date) -> bool:
        """Whether `day` falls in a year whose table is a forecast rather than the published notice (R22)."""
        return self._covered(day).year in self.estimated_years

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start`, not counting `start` itself; `start` when n is 0 (R22)."""
        self._covered(start)
        if n < 0:
            raise InvalidInput(f"n must be 0 or more, got {n}", rule_id="R22", field="n")
        if n == 0:
            return start
        index = bisect_right(self._working_days, start) + n - 1
        if index >= len(self._working_days):
            raise CalendarRangeError(
                f"working day {n} after {start} falls after {self.last_day}, the end of the calendar",
                rule_id="R22",
                field="date",
            )
        return self._working_days[index]

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in (start, end]: after `start`, up to and including `end` (R22)."""
        self._covered(start)
        self._covered(end)
        if end < start:
            raise InvalidInput(f"end {end} is before start {start}", rule_id="R22", field="end")
        return bisect_right(self._working_days, end) - bisect_right(self._working_days, start)

    def next_working_day(self, day: date) -> date:
        """The first working day after `day` (R22)."""
        return self.add_working_days(day, 1)

    def _works(self, day: date) -> bool:
        return day in self.makeup_workdays or (day.weekday() < _SATURDAY and day not in self.holidays)

    def _covered(self, day: date) -> date:
        # A datetime is a date subclass that never equals a date, so it would silently miss every holiday.
        if isinstance(day, datetime):
            raise InvalidInput(f"{day!r} is a datetime; pass the local calendar date", rule_id="R22", field="date")
        if not self.first_day <= day <= self.last_day:
            raise CalendarRangeError(
                f"{day} is outside the working-day calendar ({self.first_day}..{self.last_day})",
                rule_id="R22",
                field="date",
            )
        return day


@dataclass(frozen=True)
class _Year:
    number: int
    status: str
    holidays: tuple[date, ...]
    makeup_workdays: tuple[date, ...]


def _check_table(calendar: WorkingCalendar) -> None:
    """Refuse a table whose dates contradict each other or the coverage (R22)."""
    if calendar.first_day > calendar.last_day:
        raise _policy_error("first_day", f"{calendar.first_day} is after last_day {calendar.last_day}")
    for kind, days in (("holidays", calendar.holidays), ("makeup_workdays", calendar.makeup_workdays)):
        for day in sorted(days):
            _check_day(calendar, kind, day)
    for year in sorted(calendar.estimated_years):
        if not calendar.first_day.year <= year <= calendar.last_day.year:
            raise _policy_error(f"years.{year}", "estimated year lies outside the calendar's coverage")


def _check_day(calendar: WorkingCalendar, kind: str, day: date) -> None:
    key = f"years.{day.year}.{kind}"
    if not calendar.first_day <= day <= calendar.last_day:
        raise _policy_error(key, f"{day} is outside coverage {calendar.first_day}..{calendar.last_day}")
    if kind == "makeup_workdays" and day.weekday() < _SATURDAY:
        raise _policy_error(key, f"{day} is a {day:%A}; a make-up working day must be a Saturday or Sunday")
    if kind == "holidays" and day in calendar.makeup_workdays:
        raise _policy_error(key, f"{day} is listed both as a holiday and as a make-up working day")


def _check_every_year_listed(calendar: WorkingCalendar, listed: set[int]) -> None:
    """A year missing from the table would read as plain weekdays, so the table must list each covered year (R22)."""
    coverage = f"{calendar.first_day}..{calendar.last_day}"
    if missing := sorted(set(range(calendar.first_day.year, calendar.last_day.year + 1)) - listed):
        raise _policy_error(f"years.{missing[0]}", f"missing: coverage {coverage} needs a table for every year")
    if extra := sorted(year for year in listed if not calendar.first_day.year <= year <= calendar.last_day.year):
        raise _policy_error(f"years.{extra[0]}", f"outside coverage {coverage}")


def _parse_year(key: str, number: object, raw: object) -> _Year:
    table = _require_table(key, raw)
    _reject_unknown_keys(f"{key}.", table, _YEAR_KEYS)
    if not str(number).isdigit():
        raise _policy_error(key, "a year key must be a year number such as 2016")
    status = table.get("status")
    if status not in _STATUSES:
        raise _policy_error(f"{key}.status", f"must be one of {sorted(_STATUSES)}, got {status!r}")
    if not isinstance(table.get("source", ""), str):
        raise _policy_error(f"{key}.source", "must be a string")
    year = int(str(number))
    return _Year(
        number=year,
        status=str(status),
        holidays=_parse_days(f"{key}.holidays", table.get("holidays"), year),
        makeup_workdays=_parse_days(f"{key}.makeup_workdays", table.get("makeup_workdays"), year),
    )


def _parse_days(key: str, raw: object, year: int) -> tuple[date, ...]:
    if not isinstance(raw, list):
        raise _policy_error(key, f"must be a list of ISO dates, got {type(raw).__name__}")
    days = tuple(_parse_day(f"{key}[{i}]", item) for i, item in enumerate(raw))
    for i, day in enumerate(days):
        if day.year != year:
            raise _policy_error(f"{key}[{i}]", f"{day} is not in {year}; list it under years.{day.year}")
        if day in days[:i]:
            raise _policy_error(f"{key}[{i}]", f"{day} is listed twice")
    return days


def _parse_day(key: str, raw: object) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if not isinstance(raw, str):
        raise _policy_error(key, f"must be a date (YYYY-MM-DD), got {raw!r}")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _policy_error(key, f"{raw!r} is not an ISO date (YYYY-MM-DD)") from None


def _require_table(key: str, raw: object) -> Mapping[Any, Any]:
    if not isinstance(raw, Mapping):
        raise _policy_error(key, f"must be a table, got {type(raw).__name__}")
    return raw


def _reject_unknown_keys(prefix: str, table: Mapping[Any, Any], allowed: frozenset[str]) -> None:
    # A misspelt key (say `makeup_days`) would otherwise drop its dates without a word.
    if unknown := sorted(str(k) for k in table if k not in allowed):
        raise _policy_error(f"{prefix}{unknown[0]}", f"unknown key; expected one of {sorted(allowed)}")


def _policy_error(key: str, reason: str) -> PolicyError:
    return PolicyError(f"{key}: {reason}", rule_id="R22", field=key)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += ONE_DAY
