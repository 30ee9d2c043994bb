"""Credit events (R68–R74): violation cases and dated credit changes, planned so that no past date's tier ever moves.

A change is a new `CreditRecord` from its effective date that closes the record before it (R73). It takes effect
from the district's tomorrow at the earliest: every decision already taken was dated today or before, so no
declaration, screening or grant ever finds, on replay, a tier other than the one it used (R73, E3). The history only
grows at its end: a change must start after the last recorded one, so a pending change is superseded, never edited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType

from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.commands import Command
from workflow.domain.credit import CreditRecord, CreditStanding, credit_as_of
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.policy import CreditTier, Policy, RestorationRule
from workflow.domain.rules import add_months

T = CreditTier
MAX_LEAD_MONTHS = 12  # a change is recorded at most a year ahead: further out, the grounds are not yet decided


class CreditChangeKind(StrEnum):
    """What an officer (or the restoration sweep) records about an enterprise's tier."""

    DOWNGRADE = "downgrade"  # 降级: to a lower tier that is not a discredited one (e.g. a certification lost)
    DISCREDIT = "discredit"  # 认定失信: to discredited, or seriously discredited (R72)
    RESTORATION = "restoration"  # 信用修复: out of a discredited tier (R69, R71)
    CERTIFICATION = "certification"  # 认证: to a certified tier after a certification audit (R69–R71)


class CreditGround(StrEnum):
    """Why: the grounds for discredit of R72 (Order 251, and Order 225's error rate), and those for going up."""

    SMUGGLING = "smuggling"
    VIOLATION_RATE = "violation_rate"  # above 1‰ of declarations and ¥1m in penalties a year
    TAX_UNPAID = "tax_unpaid"  # more than 3 months after the due date
    FINES_UNPAID = "fines_unpaid"  # more than 6 months after the due date, above ¥10k
    OBSTRUCTION = "obstruction"
    BRIBERY = "bribery"
    DECLARATION_ERRORS = "declaration_errors"  # Order 225: more than double the national average
    VIOLATION_CASE = "violation_case"  # R74: a violation case recorded here, named by the change
    CERTIFICATION_LOST = "certification_lost"  # a certified enterprise failed its re-audit
    NO_DISCREDIT_PERIOD = "no_discredit_period"  # R69, R71: the profile's period passed without a discredit event
    CREDIT_REPAIRED = "credit_repaired"  # R71: Order 282's broader restoration, on the enterprise's application
    CERTIFICATION_AUDIT = "certification_audit"  # the certification audit was passed


class ViolationKind(StrEnum):
    """R74: the acts of the FHQL implementing rules a case is about; the engine keeps the reference, never a fine."""

    REFUSED_QUARANTINE = "refused_quarantine"
    FORGED_CERTIFICATE = "forged_certificate"
    CONCEALED_GOODS = "concealed_goods"
    UNPERMITTED_USE = "unpermitted_use"  # moved, sold or used without customs permission
    OTHER = "other"


_DISCREDIT_GROUNDS = frozenset(
    {
        CreditGround.SMUGGLING,
        CreditGround.VIOLATION_RATE,
        CreditGround.TAX_UNPAID,
        CreditGround.FINES_UNPAID,
        CreditGround.OBSTRUCTION,
        CreditGround.BRIBERY,
        CreditGround.DECLARATION_ERRORS,
        CreditGround.VIOLATION_CASE,
    }
)
GROUNDS: Mapping[CreditChangeKind, frozenset[CreditGround]] = MappingProxyType(
    {
        CreditChangeKind.DOWNGRADE: _DISCREDIT_GROUNDS | {CreditGround.CERTIFICATION_LOST},
        CreditChangeKind.DISCREDIT: _DISCREDIT_GROUNDS,
        CreditChangeKind.RESTORATION: frozenset({CreditGround.NO_DISCREDIT_PERIOD, CreditGround.CREDIT_REPAIRED}),
        CreditChangeKind.CERTIFICATION: frozenset({CreditGround.CERTIFICATION_AUDIT}),
    }
)
# Higher is better; tiers of different regimes at one rank are the same standing under their own order.
RANK: Mapping[CreditTier, int] = MappingProxyType(
    {
        T.ADVANCED_CERTIFIED: 5,
        T.CERTIFIED: 4,
        T.GENERAL_CERTIFIED: 4,
        T.GENERAL: 3,
        T.REGULAR: 3,
        T.DISCREDITED: 1,
        T.SERIOUSLY_DISCREDITED: 0,
    }
)
DISCREDITED = frozenset({T.DISCREDITED, T.SERIOUSLY_DISCREDITED})
CERTIFIED = frozenset({T.ADVANCED_CERTIFIED, T.CERTIFIED, T.GENERAL_CERTIFIED})
RULE_IDS: Mapping[CreditChangeKind, tuple[str, ...]] = MappingProxyType(
    {
        CreditChangeKind.DOWNGRADE: ("R72", "R73"),
        CreditChangeKind.DISCREDIT: ("R72", "R73"),
        CreditChangeKind.RESTORATION: ("R69", "R71", "R73"),
        CreditChangeKind.CERTIFICATION: ("R69", "R70", "R71", "R73"),
    }
)


@dataclass(frozen=True)
class RecordCreditChange(Command):
    """A downgrade, discredit, restoration or certification of `enterprise_id` from `effective_from` (R72, R73)."""

    enterprise_id: int
    kind: CreditChangeKind
    tier: CreditTier
    effective_from: date
    ground: CreditGround
    reason: str
    case_id: int | None = None  # the violation case a `violation_case` ground names (R74)


@dataclass(frozen=True)
class RecordViolationCase(Command):
    """R74: the reference of a violation case decided against the enterprise; no fine is computed or kept."""

    enterprise_id: int
    case_no: str
    kind: ViolationKind
    decided_on: date
    summary: str = ""


@dataclass(frozen=True)
class ApplyCreditRestorations(Command):
    """The daily sweep: each enterprise whose profile's restoration period has passed gets its restoration (R69)."""


@dataclass(frozen=True)
class CreditPlan:
    """What a change writes: the record it closes (now ending the day before) and the record it opens."""

    before: CreditTier  # the tier that would have been in force on the effective date without the change
    closes: CreditRecord | None
    opens: CreditRecord


def plan_change(records: Iterable[CreditRecord], cmd: RecordCreditChange, today: date, policy: Policy) -> CreditPlan:
    """Refuse a change that would move a past date's tier, skip the history's end, or not fit its kind (R72, R73)."""
    history = sorted((r for r in records if r.regime is policy.credit.regime), key=lambda r: r.effective_from)
    _check_dates(history, cmd.effective_from, today)
    _check_ground(cmd)
    if cmd.tier not in policy.credit.tiers:
        raise InvalidInput(f"{cmd.tier} is not a tier of policy {policy.id}", policy.credit.regime.rule_id, "tier")
    before = credit_as_of(history, cmd.effective_from, policy).tier
    _check_direction(cmd.kind, before, cmd.tier)
    covering = [r for r in history if r.covers(cmd.effective_from)]
    closes = None
    if covering:
        last_day = cmd.effective_from - timedelta(days=1)
        found = covering[0]
        closes = CreditRecord(cmd.enterprise_id, found.tier, found.regime, found.effective_from, last_day)
    opens = CreditRecord(cmd.enterprise_id, cmd.tier, policy.credit.regime, cmd.effective_from)
    return CreditPlan(before, closes, opens)


def _check_dates(history: list[CreditRecord], effective_from: date, today: date) -> None:
    if effective_from <= today:
        raise InvalidInput(
            f"a credit change takes effect from tomorrow ({today + timedelta(days=1)}) at the earliest: decisions "
            f"dated up to today ({today}) keep the tier they were taken with",
            "R73",
            "effective_from",
        )
    if effective_from > add_months(today, MAX_LEAD_MONTHS):
        raise InvalidInput(
            f"a credit change is recorded at most {MAX_LEAD_MONTHS} months ahead", "R73", "effective_from"
        )
    if history and effective_from <= history[-1].effective_from:
        raise InvalidInput(
            f"a change from {history[-1].effective_from} is already recorded; a new one starts after it",
            "R73",
            "effective_from",
        )


def _check_ground(cmd: RecordCreditChange) -> None:
    if cmd.ground not in GROUNDS[cmd.kind]:
        raise InvalidInput(f"{cmd.ground} is not a ground for a {cmd.kind}", "R72", "ground")
    if (cmd.ground is CreditGround.VIOLATION_CASE) != (cmd.case_id is not None):
        raise InvalidInput("a violation-case ground names its case, and only that ground does", "R74", "case_id")
    if not cmd.reason.strip():
        raise InvalidInput("say why: the reason is kept in the audit trail", "R72", "reason")


def _check_direction(kind: CreditChangeKind, before: CreditTier, tier: CreditTier) -> None:
    """Each kind moves one way: down (downgrade, discredit) or up (restoration out of, certification into)."""
    fits = {
        CreditChangeKind.DOWNGRADE: RANK[tier] < RANK[before] and tier not in DISCREDITED,
        CreditChangeKind.DISCREDIT: RANK[tier] < RANK[before] and tier in DISCREDITED,
        CreditChangeKind.RESTORATION: RANK[tier] > RANK[before] and before in DISCREDITED and tier not in CERTIFIED,
        CreditChangeKind.CERTIFICATION: RANK[tier] > RANK[before] and before not in DISCREDITED and tier in CERTIFIED,
    }[kind]
    if not fits:
        raise GuardFailed(f"a {kind} cannot move {before} to {tier}", RULE_IDS[kind][0], "tier")


def pending(records: Iterable[CreditRecord], today: date, policy: Policy) -> CreditRecord | None:
    """The recorded change not yet in force (at most one: the history grows only at its end)."""
    ahead = [r for r in records if r.regime is policy.credit.regime and r.effective_from > today]
    return min(ahead, key=lambda r: r.effective_from) if ahead else None


def standing(
    records: Iterable[CreditRecord], today: date, policy: Policy
) -> tuple[CreditStanding, CreditRecord | None]:
    """The tier in force today and the pending change, as the queue and the enterprise page show them (R73)."""
    every = list(records)
    return credit_as_of(every, today, policy), pending(every, today, policy)


def restoration_due(
    enterprise_id: int, records: Iterable[CreditRecord], cases_on: Iterable[date], today: date, policy: Policy
) -> RecordCreditChange | None:
    """R69/R71: the restoration the profile grants now, from tomorrow (or its due day), or None.

    The period counts from the discredit, or from the latest violation case decided since (a discredit event).
    A pending change an officer recorded wins: the sweep adds nothing behind it.
    """
    every = list(records)
    in_force = credit_as_of(every, today, policy)
    rule = _rule_for(policy.credit.restoration, in_force.tier)
    if rule is None or not isinstance(in_force, CreditRecord) or pending(every, today, policy) is not None:
        return None
    clean_since = max([in_force.effective_from, *(day for day in cases_on if day >= in_force.effective_from)])
    due = add_months(clean_since, rule.after_months)
    tomorrow = today + timedelta(days=1)
    if due > tomorrow:
        return None
    return RecordCreditChange(
        actor=SYSTEM_ACTOR,
        enterprise_id=enterprise_id,
        kind=CreditChangeKind.RESTORATION,
        tier=rule.to_tier,
        effective_from=max(due, tomorrow),
        ground=CreditGround.NO_DISCREDIT_PERIOD,
        reason=f"{rule.rule_id}: no discredit event since {clean_since} ({rule.after_months} months)",
    )


def _rule_for(rules: Iterable[RestorationRule], tier: CreditTier) -> RestorationRule | None:
    return next((rule for rule in rules if rule.from_tier is tier), None)
