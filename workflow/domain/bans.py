"""R26: the years an applicant may not reapply after false information (1) or a licence obtained by fraud (3).

A ban is a dated fact about the enterprise, recorded in the transaction of the decision that imposes it (a denial
for false information, a revocation for fraud) and read by the submission guard (A1) on the day of submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from workflow.domain.rules import add_months


class BanGround(StrEnum):
    """Why the applicant may not reapply (ALL Arts 78–79)."""

    FALSE_INFORMATION = "false_information"  # denied, or refused, for false or concealed information: 1 year
    FRAUD = "fraud"  # the licence was obtained by fraud or bribery and revoked: 3 years


BAN_YEARS = {BanGround.FALSE_INFORMATION: 1, BanGround.FRAUD: 3}


@dataclass(frozen=True)
class ApplicantBan:
    """The enterprise may not submit an application from `from_on` through `until_on` (R26)."""

    enterprise_id: int
    ground: BanGround
    from_on: date
    until_on: date


def ban_for(enterprise_id: int, ground: BanGround, decided_on: date) -> ApplicantBan:
    """The ban runs for its years from the day of the decision; the day before the anniversary is its last day."""
    until = add_months(decided_on, 12 * BAN_YEARS[ground])
    return ApplicantBan(enterprise_id, ground, decided_on, date.fromordinal(until.toordinal() - 1))
