"""Which districts share a local date: a sweep across districts acts on each district's own today.

Every date a rule reads is the district's local date (its time zone in config/districts.toml). A sweep that finds
due rows by date runs once per distinct local date, over the districts that have that date; when every district
has the same date (the shipped configuration: all in Beijing time) that is one run over all of them, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class DistrictScope:
    """The districts a date-bound query covers: `only` these, or every district `besides` these.

    A district that the configuration does not list reads the default zone's date, so it falls in the scope of
    that date: that scope is "every district besides the ones with another date", never a closed list.
    """

    only: tuple[str, ...] | None = None
    besides: tuple[str, ...] = ()

    def covers(self, district: str) -> bool:
        return district in self.only if self.only is not None else district not in self.besides


EVERY_DISTRICT = DistrictScope()


def local_days(dates: Mapping[str, date], default: date) -> list[tuple[date, DistrictScope]]:
    """Each distinct local date with the scope of districts that have it; `default` is the unlisted districts' date."""
    others: dict[date, list[str]] = {}
    for district, day in sorted(dates.items()):
        if day != default:
            others.setdefault(day, []).append(district)
    besides = tuple(district for districts in others.values() for district in districts)
    days = [(default, DistrictScope(besides=besides))]
    return days + [(day, DistrictScope(only=tuple(districts))) for day, districts in sorted(others.items())]
