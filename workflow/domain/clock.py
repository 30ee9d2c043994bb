"""The statutory clock of the Administrative Licensing Law for special goods (R17, R19-R23).

Deadlines are counted in working days of a `WorkingCalendar` (R22); pauses (R21) and the one extension (R20)
live on the frozen `StatutoryClock`. Pure: "today" is always an argument, never read from a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction
from typing import Any, TypeAlias

from workflow.domain.calendar import WorkingCalendar
from workflow.domain.errors import GuardFailed, InvalidInput, PolicyError

ONE_DAY = timedelta(days=1)

Pause: TypeAlias = tuple[date, date | None]
"""First and last paused day, both inclusive; the last is None while the pause is open (R21)."""


@dataclass(frozen=True)
class ClockLimits:
    """The statutory limits in working days, overridable by a policy profile (R17, R19, R20, R23)."""

    correction_days: int = 5
    decision_days: int = 20
    extension_days: int = 10
    delivery_days: int = 10

    def __post_init__(self) -> None:
        for name in ("correction_days", "extension_days", "delivery_days"):
            if getattr(self, name) < 0:
                raise PolicyError(f"{name} must be 0 or more, got {getattr(self, name)}", rule_id="R19", field=name)
        if self.decision_days < 1:
            raise PolicyError(
                f"decision_days must be 1 or more, got {self.decision_days}", rule_id="R19", field="decision_days"
            )


STATUTORY_LIMITS = ClockLimits()


def correction_deadline(calendar: WorkingCalendar, received_on: date, limits: ClockLimits = STATUTORY_LIMITS) -> date:
    """The last day for the one correction notice: 5 working days after receipt (R17, R22)."""
    return calendar.add_working_days(received_on, limits.correction_days)


def correction_notice_in_time(
    calendar: WorkingCalendar, received_on: date, notice_on: date, limits: ClockLimits = STATUTORY_LIMITS
) -> bool:
    """Whether a correction notice issued on `notice_on` is still within the R17 limit (R17, R22)."""
    if notice_on < received_on:
        raise InvalidInput(f"notice on {notice_on} predates receipt on {received_on}", rule_id="R17", field="notice_on")
    return notice_on <= correction_deadline(calendar, received_on, limits)


def is_deemed_accepted(
    calendar: WorkingCalendar, received_on: date, today: date, limits: ClockLimits = STATUTORY_LIMITS
) -> bool:
    """Whether the correction window has closed, so an application with no notice is accepted (R17).

    The acceptance then dates from `received_on`, not from today: start its clock with accepted_on=received_on.
    """
    return today > correction_deadline(calendar, received_on, limits)


def delivery_deadline(calendar: WorkingCalendar, granted_on: date, limits: ClockLimits = STATUTORY_LIMITS) -> date:
    """The last day to issue or deliver the certificate: 10 working days after the grant decision (R23, R22)."""
    return calendar.add_working_days(granted_on, limits.delivery_days)


@dataclass(frozen=True)
class StatutoryClock:
    """The decision clock of one application: 20 working days from acceptance (R19), +10 once (R20), paused (R21).

    Counting convention (R21, R22): a day counts when it is a working day after `accepted_on` and the clock is
    not paused on it. A pause covers its first and its last day, so a day on which the clock is paused for any
    part does not count: pausing on Monday and resuming on Wednesday removes Monday to Wednesday.
    """

    accepted_on: date
    pauses: tuple[Pause, ...] = ()
    extended: bool = False
    limits: ClockLimits = STATUTORY_LIMITS

    def __post_init__(self) -> None:
        previous_end = self.accepted_on
        for index, (start, end) in enumerate(self.pauses):
            _check_pause(index, start, end, previous_end, is_last=index == len(self.pauses) - 1)
            previous_end = start if end is None else end

    @property
    def is_paused(self) -> bool:
        """Whether an expert review, test or correction has stopped the clock now (R21)."""
        return bool(self.pauses) and self.pauses[-1][1] is None

    @property
    def limit_days(self) -> int:
        """The decision limit in working days: 20, or 30 once extended (R19, R20)."""
        return self.limits.decision_days + (self.limits.extension_days if self.extended else 0)

    def pause(self, on: date) -> StatutoryClock:
        """Stop the clock from `on` (inclusive) for hearings, tests, quarantine or expert review (R21)."""
        if self.is_paused:
            raise GuardFailed(f"the clock is already paused since {self.pauses[-1][0]}", rule_id="R21")
        return replace(self, pauses=(*self.pauses, (on, None)))

    def resume(self, on: date) -> StatutoryClock:
        """Restart the clock; `on` is still a paused day and counting restarts the day after (R21)."""
        if not self.is_paused:
            raise GuardFailed("the clock is not paused", rule_id="R21")
        return replace(self, pauses=(*self.pauses[:-1], (self.pauses[-1][0], on)))

    def extend(self) -> StatutoryClock:
        """Add the one extension of 10 working days; a second one is refused (R20).

        Whether the extension is still allowed today (before the limit runs out) is the caller's guard.
        """
        if self.extended:
            raise GuardFailed("the decision time limit may be extended only once", rule_id="R20")
        return replace(self, extended=True)

    def to_dict(self) -> dict[str, object]:
        """The clock as JSON-ready data (stored with the application)."""
        return {
            "accepted_on": self.accepted_on.isoformat(),
            "pauses": [[start.isoformat(), end.isoformat() if end else None] for start, end in self.pauses],
            "extended": self.extended,
            "limits": {
                "correction_days": self.limits.correction_days,
                "decision_days": self.limits.decision_days,
                "extension_days": self.limits.extension_days,
                "delivery_days": self.limits.delivery_days,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatutoryClock:
        pauses = tuple(
            (date.fromisoformat(start), date.fromisoformat(end) if end else None) for start, end in data["pauses"]
        )
        return cls(
            accepted_on=date.fromisoformat(data["accepted_on"]),
            pauses=pauses,
            extended=data["extended"],
            limits=ClockLimits(**data["limits"]),
        )

    def due_date(self, calendar: WorkingCalendar) -> date | None:
        """The last day for the decision (R19-R22); None while paused with working days still left."""
        remaining = self.limit_days
        cursor = self.accepted_on
        for start, end in self.pauses:
            available = calendar.working_days_between(cursor, max(cursor, start - ONE_DAY))
            if available >= remaining:
                break
            if end is None:
                return None
            remaining -= available
            cursor = end
        return calendar.add_working_days(cursor, remaining)

    def working_days_used(self, calendar: WorkingCalendar, today: date) -> int:
        """The counted working days from acceptance up to and including `today` (R19, R21, R22)."""
        if today <= self.accepted_on:
            return 0
        paused, counted_until = 0, self.accepted_on
        for start, end in self.pauses:
            # A pause may begin on the day the previous one ended: that shared day is paused once, not twice.
            paused += self._paused_working_days(calendar, max(start - ONE_DAY, counted_until), end, today)
            counted_until = max(counted_until, end or today)
        return calendar.working_days_between(self.accepted_on, today) - paused

    def fraction_used(self, calendar: WorkingCalendar, today: date) -> Fraction:
        """The share of the limit used by `today`, exact, for reminders such as 3/4 (R19-R22); above 1 once late."""
        return Fraction(self.working_days_used(calendar, today), self.limit_days)

    def is_breached(self, calendar: WorkingCalendar, today: date) -> bool:
        """Whether `today` is past the due date with no decision (R19-R22); a breach raises an alert, never a grant."""
        due = self.due_date(calendar)
        return due is not None and today > due

    @staticmethod
    def _paused_working_days(calendar: WorkingCalendar, after: date, end: date | None, today: date) -> int:
        """Working days paused after `after` (acceptance day and days already paused never count) up to `today`."""
        last = today if end is None else min(end, today)
        return calendar.working_days_between(after, last) if last > after else 0


def _check_pause(index: int, start: date, end: date | None, previous_end: date, *, is_last: bool) -> None:
    """Pauses follow one another after acceptance; only the last may be open (R21)."""
    key = f"pauses[{index}]"
    if start < previous_end:
        raise InvalidInput(
            f"{key}: pause on {start} precedes {previous_end}, the acceptance or the last resumption",
            rule_id="R21",
            field=key,
        )
    if end is not None and end < start:
        raise InvalidInput(f"{key}: resumed on {end}, before the pause on {start}", rule_id="R21", field=key)
    if end is None and not is_last:
        raise InvalidInput(f"{key}: only the last pause may be open", rule_id="R21", field=key)
