"""Enterprise credit as a dated history (R68–R73), read as of a given date and never as "current" after the fact.

An audit replay of a 2019 declaration must see the tier the enterprise held in 2019 (R73, E3), so every record
carries its regime and its dates, and the caller always says which day it asks about.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from workflow.domain.errors import InvalidInput
from workflow.domain.policy import CreditRegime, CreditTier, Policy


@dataclass(frozen=True)
class CreditRecord:
    """One tier an enterprise held under one regime; `effective_to` is the last day it applies, None if open."""

    enterprise_id: int
    tier: CreditTier
    regime: CreditRegime
    effective_from: date
    effective_to: date | None = None

    def __post_init__(self) -> None:
        # Rows come back from the store as plain strings; an unknown code is bad data, not a crash.
        try:
            object.__setattr__(self, "regime", CreditRegime(self.regime))
            object.__setattr__(self, "tier", CreditTier(self.tier))
        except ValueError as exc:
            raise InvalidInput(f"unknown credit regime or tier: {exc}", "R73", "regime") from exc
        if self.tier not in self.regime.tiers:
            raise InvalidInput(f"{self.tier} is not a tier under {self.regime}", self.regime.rule_id, "tier")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise InvalidInput("a credit record cannot end before it starts", "R73", "effective_to")

    def covers(self, on_date: date) -> bool:
        return self.effective_from <= on_date and (self.effective_to is None or on_date <= self.effective_to)

    def overlaps(self, other: CreditRecord) -> bool:
        return self.covers(other.effective_from) or other.covers(self.effective_from)


@dataclass(frozen=True)
class DefaultCredit:
    """The policy's default tier, for an enterprise with no record in force under the policy's regime."""

    tier: CreditTier
    regime: CreditRegime


CreditStanding = CreditRecord | DefaultCredit


def credit_as_of(records: Iterable[CreditRecord], on_date: date, policy: Policy) -> CreditStanding:
    """The tier one enterprise held on `on_date` under the policy's regime (R73); its default tier if none."""
    history = _regime_history(records, policy.credit.regime)
    in_force = [record for record in history if record.covers(on_date)]
    if in_force:
        return in_force[0]
    return DefaultCredit(tier=policy.credit.default_tier, regime=policy.credit.regime)


def _regime_history(records: Iterable[CreditRecord], regime: CreditRegime) -> list[CreditRecord]:
    """The records of `regime`, checked: one enterprise only, and no two periods overlapping."""
    every = list(records)
    if len({record.enterprise_id for record in every}) > 1:
        raise InvalidInput("credit records of several enterprises were mixed in one history", "R73", "records")
    history = sorted((record for record in every if record.regime is regime), key=lambda r: r.effective_from)
    for earlier, later in itertools.pairwise(history):
        if earlier.overlaps(later):
            raise InvalidInput(
                f"{regime} records from {earlier.effective_from} and {later.effective_from} overlap", "R73", "records"
            )
    return history
