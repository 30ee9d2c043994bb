"""The real clock: UTC timestamps for the audit trail, the district's local date for statutory dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

from config.local_time import local_date
from workflow.domain.policy import DEFAULT_TIME_ZONE


class SystemClock:
    def now(self) -> datetime:
        """Naive UTC, the one convention every timestamp column follows on SQLite and PostgreSQL alike."""
        return datetime.now(UTC).replace(tzinfo=None)

    def today(self) -> date:
        """Working-day clocks count days in Beijing, the local date of every configured district (Asia/Shanghai).

        The clock port has one today; a district configured in another zone (config/districts.toml) shows its own
        local times on every page and document, but its rules still read Beijing's date (docs/ui.md, "Time").
        """
        return local_date(self.now(), DEFAULT_TIME_ZONE)
