"""Simulated time: a clock the simulator sets to each day it works on, and the agenda of steps due on each day.

The clock satisfies the service's Clock port, so the real handlers date their decisions by simulated days.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope

Step = Callable[[], None]
# 01:00 UTC is 09:00 in Beijing: every instant of a simulated day falls on the same local date in Fujian.
_OPENING = time(1, 0)


class SimulatedClock:
    """Today is whatever day the agenda is on; instants tick by a millisecond so the audit trail keeps its order."""

    def __init__(self, day: date) -> None:
        self.day, self._ticks = day, 0

    def set(self, day: date) -> None:
        if day != self.day:
            self.day, self._ticks = day, 0

    def today(self, district: str | None = None) -> date:
        return self.day

    def now(self) -> datetime:
        self._ticks += 1
        return datetime.combine(self.day, _OPENING) + timedelta(milliseconds=self._ticks)

    def local_days(self) -> list[tuple[date, DistrictScope]]:
        return [(self.day, EVERY_DISTRICT)]


class Agenda:
    """Steps by day, first in first out within a day; running it moves the clock to each step's day."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self._due: list[tuple[date, int, Step]] = []
        self._order = itertools.count()

    def at(self, day: date, step: Step) -> None:
        heapq.heappush(self._due, (day, next(self._order), step))

    def run(self) -> None:
        while self._due:
            day, _, step = heapq.heappop(self._due)
            self.clock.set(day)
            step()
