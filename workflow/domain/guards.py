"""Decision guards: the "must have happened before" rules of DOMAIN.md §(c), as data beside the lifecycle tables.

A guard is a named predicate over the object and who fires the trigger, tied to the rule it enforces. The lifecycle
runs a transition's guards every time it fires, inside the caller's transaction, so a rule holds wherever a decision
is made from. `REQUIRED_GUARDS` says which guard each rule needs on which transition; `specgoods lifecycles check`
proves each is attached, and docs/guards.md is the same table in prose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from workflow.domain.actors import Actor
from workflow.domain.errors import DomainError, GuardFailed, PermissionDenied


@dataclass(frozen=True)
class GuardInput:
    """What a guard may read besides the object: who fires the trigger and the reason they wrote."""

    actor: Actor
    reason: str = ""


Check = Callable[[Any, GuardInput], str | None]


@dataclass(frozen=True)
class Guard:
    """A predicate that refuses a transition with a message naming its rule; `check` returns None to allow."""

    name: str
    rule_id: str
    summary: str
    check: Check = field(compare=False, repr=False)
    error: type[DomainError] = GuardFailed
    field: str | None = None

    def enforce(self, obj: Any, given: GuardInput) -> None:
        refusal = self.check(obj, given)
        if refusal is not None:
            raise self.error(f"{refusal} ({self.rule_id})", rule_id=self.rule_id, field=self.field)


# -- facts a decision reads -----------------------------------------------------------------------------------------


class AssessmentOutcome(StrEnum):
    """Where the latest risk assessment of an application stands (A8: 通过 / 补正材料 / 驳回, or still open)."""

    OPEN = "open"
    PASS = "pass"
    CORRECT = "correct"
    REJECT = "reject"


@dataclass(frozen=True)
class AssessmentStanding:
    """The latest risk assessment of an application, and whether the head overrode a panel's rejection."""

    assessment_id: int
    outcome: AssessmentOutcome
    overridden: bool = False


@dataclass(frozen=True)
class DecisionFacts:
    """Facts outside the aggregate that a decision depends on, read in the deciding transaction.

    `assessment_required` is true when the screening or the grade about to be decided requires a risk assessment
    (R32; grade A as the profile says); `required_because` names that reason for the refusal message.
    `banned_until` is the last day of an applicant ban in force on the day of submission (R26).
    """

    assessment_required: bool = False
    required_because: str = ""
    assessment: AssessmentStanding | None = None
    banned_until: date | None = None
    # R9(b)/R14/R62: each way a line's user lab fails the goods on the decision's date; None: not read (refused).
    lab_findings: tuple[str, ...] | None = None


def _facts(obj: Any) -> DecisionFacts | None:
    return getattr(obj, "decision_facts", None)


# -- predicates -----------------------------------------------------------------------------------------------------


def _reason_written(obj: Any, given: GuardInput) -> str | None:
    return None if given.reason.strip() else "a written reason is required"


def _has_lines(obj: Any, given: GuardInput) -> str | None:
    return None if obj.lines else "an application has at least one goods line"


def _one_notice(obj: Any, given: GuardInput) -> str | None:
    return "the one correction notice for this submission was already issued" if obj.correction_notices else None


def _clock_running(obj: Any, given: GuardInput) -> str | None:
    return None if obj.clock is not None else "the statutory clock starts at acceptance"


def _not_extended(obj: Any, given: GuardInput) -> str | None:
    extended = obj.clock is not None and obj.clock.extended
    return "the decision time limit may be extended only once" if extended else None


def _reviewer_separated(obj: Any, given: GuardInput) -> str | None:
    if given.actor.user_id is not None and given.actor.user_id == obj.acceptor_id:
        return "the reviewer must not be the officer who accepted the application"
    return None


def _decider_separated(obj: Any, given: GuardInput) -> str | None:
    if given.actor.user_id is not None and given.actor.user_id in (obj.acceptor_id, obj.reviewer_id):
        return "acceptance, review and decision need three different officers"
    return None


def _assessment_concluded(obj: Any, given: GuardInput) -> str | None:
    """R32 / R63: a required assessment has concluded (a reused entity-level one concludes at once)."""
    facts = _facts(obj)
    if facts is None:
        return "the decision's facts were not read; nothing is granted without them"
    if not facts.assessment_required:
        return None
    standing = facts.assessment
    because = f" ({facts.required_because})" if facts.required_because else ""
    if standing is None:
        return f"a risk assessment is required before grant{because}; refer the application to the panel"
    if standing.outcome is AssessmentOutcome.OPEN:
        return f"risk assessment #{standing.assessment_id} has not concluded yet"
    if standing.outcome is AssessmentOutcome.CORRECT:
        return f"risk assessment #{standing.assessment_id} asked for more documents; assess the corrected file again"
    return None


def _rejection_overridden(obj: Any, given: GuardInput) -> str | None:
    """A8: a panel's rejection stands unless the head overrode it with a written reason."""
    facts = _facts(obj)
    standing = facts.assessment if facts is not None else None
    if standing is not None and standing.outcome is AssessmentOutcome.REJECT and not standing.overridden:
        return f"the expert panel rejected the application (assessment #{standing.assessment_id}); deny it, or the head overrides the rejection with a written reason"  # noqa: E501
    return None


def _not_banned(obj: Any, given: GuardInput) -> str | None:
    """R26: after false information (1 year) or a licence obtained by fraud (3 years) nothing is filed."""
    facts = _facts(obj)
    if facts is None:
        return "the applicant's standing was not read; nothing is submitted without it"
    if facts.banned_until is not None:
        return f"the applicant may not apply until {facts.banned_until.isoformat()} (a ban after false information or fraud)"  # noqa: E501
    return None


def _lab_matches(obj: Any, given: GuardInput) -> str | None:
    """R9(b) / R14 / R62: the user lab of every pathogen line is the applicant's, verified, valid and of the level."""
    facts = _facts(obj)
    if facts is None or facts.lab_findings is None:
        return "the applicant's laboratories were not read; nothing is granted without them"
    if facts.lab_findings:
        listed = "; ".join(facts.lab_findings)
        return f"the biosafety capability does not match the goods: {listed}; nothing is granted until it does"
    return None


def _panel_rejected(obj: Any, given: GuardInput) -> str | None:
    facts = _facts(obj)
    standing = facts.assessment if facts is not None else None
    if standing is None or standing.outcome is not AssessmentOutcome.REJECT:
        return "only a panel's rejection can be overridden"
    return "the rejection was already overridden" if standing.overridden else None


def _no_standing_rejection(obj: Any, given: GuardInput) -> str | None:
    """A8: a rejected file is not sent to another panel until one agrees (no panel shopping)."""
    if _facts(obj) is None:
        return "the decision's facts were not read; nothing is referred without them"
    refusal = _rejection_overridden(obj, given)
    return None if refusal is None else "the expert panel rejected this application; it is not referred again"


# -- the guards -----------------------------------------------------------------------------------------------------

REASON_FOR_DENIAL = Guard("reason_written", "R25", "A denial gives written reasons.", _reason_written, field="reason")
REASON_FOR_NOT_ACCEPTING = Guard(
    "reason_written", "R18", "Not accepting needs a reason code.", _reason_written, field="reason"
)
REASON_FOR_EXTENSION = Guard(
    "reason_written", "R20", "The applicant is told why the limit is extended.", _reason_written, field="reason"
)
REASON_TO_WITHDRAW = Guard(
    "reason_written", "C5", "A withdrawal states the follow-up finding.", _reason_written, field="reason"
)
REASON_TO_REVOKE = Guard(
    "reason_written", "C6", "A revocation states the fraud or error.", _reason_written, field="reason"
)
REASON_TO_CANCEL = Guard("reason_written", "C7", "A cancellation states its ground.", _reason_written, field="reason")
REASON_TO_ASK_CANCELLATION = Guard(
    "reason_written", "C7", "A holder's request to cancel states its ground.", _reason_written, field="reason"
)
REASON_TO_REFUSE_CHANGE = Guard(
    "reason_written", "R43", "A refused change request says why.", _reason_written, field="reason"
)
REASON_FOR_OVERRIDE = Guard(
    "reason_written", "A8", "The head's override of a panel rejection is written.", _reason_written, field="reason"
)
NOT_BANNED = Guard("applicant_not_banned", "R26", "The applicant has no ban in force (A1).", _not_banned)
HAS_LINES = Guard("has_goods_lines", "R13", "An application names at least one goods line.", _has_lines, field="lines")
ONE_NOTICE = Guard("one_notice_per_submission", "R17", "One correction notice per submission.", _one_notice)
DEFICIENCIES_LISTED = Guard(
    "deficiencies_listed", "R17", "The notice lists every deficiency.", _reason_written, field="deficiencies"
)
CLOCK_RUNNING = Guard("clock_running", "R21", "The statutory clock runs (the file was accepted).", _clock_running)
EXTENDED_ONCE = Guard("extended_at_most_once", "R20", "The limit is extended at most once.", _not_extended)
REVIEWER_SEPARATED = Guard(
    "reviewer_is_not_acceptor", "R11", "The reviewer is not the acceptor.", _reviewer_separated, PermissionDenied
)
DECIDER_SEPARATED = Guard(
    "decider_is_not_acceptor_or_reviewer",
    "R11",
    "The decider is neither the acceptor nor the reviewer.",
    _decider_separated,
    PermissionDenied,
)
ASSESSMENT_CONCLUDED = Guard(
    "risk_assessment_concluded",
    "R32",
    "A required risk assessment has concluded, or an entity-level one was reused (R63).",
    _assessment_concluded,
)
REJECTION_OVERRIDDEN = Guard(
    "panel_rejection_overridden",
    "A8",
    "A panel's rejection blocks grant unless the head overrode it in writing.",
    _rejection_overridden,
)
LAB_MATCHES = Guard(
    "lab_matches_goods",
    "R62",
    "The user lab's level, accreditation and verification match the goods on the decision's date (R9(b), R14).",
    _lab_matches,
    field="lines",
)
PANEL_REJECTED = Guard("panel_rejected", "A8", "There is a panel rejection to override.", _panel_rejected)
NO_STANDING_REJECTION = Guard(
    "no_standing_rejection", "A8", "A rejected file is not referred to another panel.", _no_standing_rejection
)


@dataclass(frozen=True)
class RequiredGuard:
    """One row of the rule → transition → guard table that the static lifecycle check verifies."""

    rule_id: str
    lifecycle: str
    trigger: str
    guard: str


REQUIRED_GUARDS: tuple[RequiredGuard, ...] = (
    RequiredGuard("R13", "application", "submit", "has_goods_lines"),
    RequiredGuard("R26", "application", "submit", "applicant_not_banned"),
    RequiredGuard("R26", "application", "resubmit", "applicant_not_banned"),
    RequiredGuard("R17", "application", "request_correction", "one_notice_per_submission"),
    RequiredGuard("R17", "application", "request_correction", "deficiencies_listed"),
    RequiredGuard("R18", "application", "not_accept", "reason_written"),
    RequiredGuard("R11", "application", "start_review", "reviewer_is_not_acceptor"),
    RequiredGuard("R21", "application", "refer_assessment", "clock_running"),
    RequiredGuard("A8", "application", "refer_assessment", "no_standing_rejection"),
    RequiredGuard("R20", "application", "extend", "reason_written"),
    RequiredGuard("R20", "application", "extend", "extended_at_most_once"),
    RequiredGuard("A8", "application", "override_assessment", "panel_rejected"),
    RequiredGuard("A8", "application", "override_assessment", "reason_written"),
    RequiredGuard("R11", "application", "grant", "decider_is_not_acceptor_or_reviewer"),
    RequiredGuard("R32", "application", "grant", "risk_assessment_concluded"),
    RequiredGuard("A8", "application", "grant", "panel_rejection_overridden"),
    RequiredGuard("R62", "application", "grant", "lab_matches_goods"),
    RequiredGuard("R11", "application", "deny", "decider_is_not_acceptor_or_reviewer"),
    RequiredGuard("R25", "application", "deny", "reason_written"),
    RequiredGuard("C5", "certificate", "withdraw", "reason_written"),
    RequiredGuard("C6", "certificate", "revoke", "reason_written"),
    RequiredGuard("C7", "certificate", "cancel", "reason_written"),
    RequiredGuard("C7", "certificate", "request_cancellation", "reason_written"),
    RequiredGuard("R43", "certificate", "refuse_change", "reason_written"),
)
