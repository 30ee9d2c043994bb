"""The decisions already taken, counted into the dashboard's counts by day (after migration 0019; the benchmark).

The page benchmark COPYs its rows past the repositories that count them, so it recounts too.

Needs the holiday calendar (working days, R22) and each district's time zone (the local date of a decision), which
the composition root holds and a migration does not.
"""

from __future__ import annotations

from datetime import date, datetime

from config.bootstrap import Container
from config.local_time import local_date, zone_of
from workflow.store import district_counts


def recount_decisions(container: Container) -> int:
    """Replace the decisions' counts with a recount from the audit trail; returns how many counts it wrote."""
    policies = container.deps.policies

    def day_of(at: datetime, district: str) -> date:
        return local_date(at, zone_of(policies, district))

    with container.engine.begin() as connection:
        counted = district_counts.recount_decisions(connection, container.deps.calendar, day_of)
        return district_counts.backfill_decisions(connection, counted)
