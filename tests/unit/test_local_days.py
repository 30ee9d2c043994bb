"""Each district reads its own local date: the real clock by time zone, and sweeps grouped by date."""

from __future__ import annotations

from datetime import date, datetime

from config.clock import SystemClock
from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope, local_days

# 16:30 UTC: already the 7th in Beijing (00:30), still the 6th in Xinjiang time (22:30, UTC+6).
EVENING_UTC = datetime(2026, 12, 6, 16, 30)


class StoppedClock(SystemClock):
    def now(self) -> datetime:
        return EVENING_UTC


def test_a_district_in_another_zone_reads_its_own_date_while_beijing_has_moved_on() -> None:
    clock = StoppedClock({"xiamen": "Asia/Shanghai", "kashgar": "Asia/Urumqi"})
    assert clock.today("xiamen") == date(2026, 12, 7)
    assert clock.today("kashgar") == date(2026, 12, 6)


def test_no_district_or_an_unlisted_one_reads_beijings_date() -> None:
    clock = StoppedClock({"kashgar": "Asia/Urumqi"})
    assert clock.today() == clock.today("nowhere") == date(2026, 12, 7)


def test_sweeps_run_once_per_local_date_with_each_district_in_exactly_one_run() -> None:
    days = StoppedClock({"xiamen": "Asia/Shanghai", "fuzhou": "Asia/Shanghai", "kashgar": "Asia/Urumqi"}).local_days()
    assert days == [
        (date(2026, 12, 7), DistrictScope(besides=("kashgar",))),
        (date(2026, 12, 6), DistrictScope(only=("kashgar",))),
    ]
    for district in ("xiamen", "fuzhou", "kashgar", "unlisted"):
        assert sum(scope.covers(district) for _, scope in days) == 1


def test_districts_sharing_one_date_are_swept_in_one_run_over_every_district() -> None:
    days = StoppedClock({"xiamen": "Asia/Shanghai", "fuzhou": "Asia/Shanghai"}).local_days()
    assert days == [(date(2026, 12, 7), EVERY_DISTRICT)]


def test_grouping_is_by_date_not_by_zone_name() -> None:
    same_day = {"a": date(2026, 1, 2), "b": date(2026, 1, 2), "c": date(2026, 1, 1)}
    assert local_days(same_day, date(2026, 1, 2)) == [
        (date(2026, 1, 2), DistrictScope(besides=("c",))),
        (date(2026, 1, 1), DistrictScope(only=("c",))),
    ]
