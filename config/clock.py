"""The real clock: UTC timestamps for the audit trail, each district's local date for the dates its rules read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from config.local_time import local_date
from workflow.domain.local_days import DistrictScope, local_days
from workflow.domain.policy import DEFAULT_TIME_ZONE


class SystemClock:
    """`zones` maps a district's code to its IANA time zone (config/districts.toml); others read Beijing's date."""

    def __init__(self, zones: Mapping[str, str] | None = None) -> None:
        self.zones = dict(zones or {})

    def now(self) -> datetime:
        """Naive UTC, the one convention every timestamp column follows on SQLite and PostgreSQL alike."""
        return datetime.now(UTC).replace(tzinfo=None)

    def today(self, district: str | None = None) -> date:
        """The district's local date: the date a statutory clock, a validity or a draw period reads (docs/ui.md)."""
        return local_date(self.now(), self.zones.get(district or "", DEFAULT_TIME_ZONE))

    def local_days(self) -> list[tuple[date, DistrictScope]]:
        """Each local date of the moment with the districts that have it, for the sweeps across districts."""
        now = self.now()
        dates = {district: local_date(now, zone) for district, zone in self.zones.items()}
        return local_days(dates, local_date(now, DEFAULT_TIME_ZONE))
