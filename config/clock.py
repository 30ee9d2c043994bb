"""The real clock: UTC timestamps for the audit trail, China Standard Time for statutory dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

# China has had no daylight saving since 1991, so a fixed offset needs no tz database on slim images.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


class SystemClock:
    def now(self) -> datetime:
        """Naive UTC, the one convention every timestamp column follows on SQLite and PostgreSQL alike."""
        return datetime.now(UTC).replace(tzinfo=None)

    def today(self) -> date:
        """Working-day clocks count days in Beijing, where the customs district works."""
        return datetime.now(CHINA_STANDARD_TIME).date()
