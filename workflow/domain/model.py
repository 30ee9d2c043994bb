"""Aggregates of the approval workflow: the application and its certificate.

Each domain method checks its guards, fires the shared lifecycle machine and records a `TransitionRecord`, which the
store writes as an audit event in the same transaction as the new state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.bans import ApplicantBan
from workflow.domain.calendar import WorkingCalendar
from workflow.domain.clock import ClockLimits, StatutoryClock, correction_deadline
from workflow.domain.errors import GuardFailed, InvalidInput, InvalidTransition, PermissionDenied
from workflow.domain.goods import Direction, GoodsLine, RiskGrade, WriteOffMode
from workflow.domain.guards import DecisionFacts, GuardInput
from workflow.domain.lifecycle import APPLICATION, CERTIFICATE, AppState, CertState, Lifecycle
from workflow.domain.permissions import Action, may, require
from workflow.domain.review import Recommendation


@dataclass(frozen=True)
class TransitionRecord:
    """What the audit trail keeps of one transition: who, what, why, under which policy and rules."""

    trigger: str
    from_state: str
    to_state: str
    actor: Actor
    reason: str = ""
    rule_ids: tuple[str, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxRequest:
    """Background work asked for by a transition; written to the outbox in the same transaction."""

    task: str
    payload: Mapping[str, Any]


@dataclass
class Aggregate:
    """Shared plumbing of the aggregates: the state column, the version guard and the pending records."""

    id: int | None = None
    state: Any = None
    version: int = 0
    policy_id: str = ""
    policy_hash: str = ""
    pending: list[TransitionRecord] = field(default_factory=list, repr=False)
    requests: list[OutboxRequest] = field(default_factory=list, repr=False)

    def _fire(self, lifecycle: Lifecycle[Any], trigger: str, actor: Actor, **details: Any) -> None:
        self._check_actor_role(lifecycle, trigger, actor)
        before, after = lifecycle.fire(self, trigger, GuardInput(actor, details.get("reason", "")))
        spec = lifecycle.spec(trigger)
        rule_ids = tuple(dict.fromkeys((*spec.rule_ids, *details.pop("rule_ids", ()))))
        self.pending.append(
            TransitionRecord(trigger, str(before), str(after), actor, rule_ids=rule_ids, **details),
        )

    def _require_allowed(self, lifecycle: Lifecycle[Any], trigger: str) -> None:
        """Refuse a forbidden (state, trigger) pair before any guard reads fields that state has not set yet."""
        if not lifecycle.can_fire(self.state, trigger):
            rule_id = lifecycle.spec(trigger).rule_ids[0]
            raise InvalidTransition(f"{lifecycle.name}: {trigger} is not allowed in state {self.state}", rule_id)

    @staticmethod
    def _check_actor_role(lifecycle: Lifecycle[Any], trigger: str, actor: Actor) -> None:
        allowed = lifecycle.spec(trigger).actors
        if actor.role not in allowed:
            roles = ", ".join(sorted(role.value for role in allowed))
            raise PermissionDenied(f"{trigger} is done by {roles}, not {actor.role.value}", rule_id="R11")

    def note(
        self,
        trigger: str,
        actor: Actor,
        reason: str = "",
        rule_ids: tuple[str, ...] = (),
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        """An audited event that changes no state (screening, a reversal request, an overdue alert)."""
        state = str(self.state)
        self.pending.append(TransitionRecord(trigger, state, state, actor, reason, rule_ids, dict(inputs or {})))

    def take_pending(self) -> tuple[list[TransitionRecord], list[OutboxRequest]]:
        """Hand the unsaved records to the store exactly once."""
        records, requests = self.pending, self.requests
        self.pending, self.requests = [], []
        return records, requests


@dataclass
class Application(Aggregate):
    """入/出境特殊物品卫生检疫审批申请 (ApprovalApplication)."""

    reference: str = ""
    enterprise_id: int = 0
    district: str = ""
    direction: Direction = Direction.ENTRY
    lines: list[GoodsLine] = field(default_factory=list)
    grade: RiskGrade | None = None
    is_first_time: bool | None = None
    paperless: bool | None = None
    received_on: date | None = None
    accepted_on: date | None = None
    acceptor_id: int | None = None
    reviewer_id: int | None = None
    decider_id: int | None = None
    correction_notices: int = 0
    screening: dict[str, Any] | None = None
    decision_reason: str = ""
    clock: StatutoryClock | None = None
    ports: tuple[str, ...] = ()
    claimed_by: int | None = None
    claimed_at: datetime | None = None
    # Read in the deciding transaction, never stored: what the grant guards check (guards.py).
    decision_facts: DecisionFacts | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = AppState.DRAFT

    def _fire(self, lifecycle: Lifecycle[Any], trigger: str, actor: Actor, **details: Any) -> None:
        """A transition to another post's step ends the claim on the file, in the transaction of the transition."""
        before = self.state
        super()._fire(lifecycle, trigger, actor, **details)
        if WORKING_POST.get(before) is not WORKING_POST.get(self.state):
            self._release_claim(actor)

    # -- applicant ------------------------------------------------------------------------------------------------

    def submit(self, actor: Actor, on: date, attached: set[str], required: Sequence[str]) -> None:
        """A1: every mandatory document for the goods is attached (R12–R16)."""
        self._require_own_enterprise(actor)
        _require_documents(attached, required)
        self._fire(APPLICATION, "submit", actor, inputs={"attached": sorted(attached), "required": list(required)})
        self._mark_received(on)

    def resubmit(self, actor: Actor, on: date, attached: set[str], required: Sequence[str]) -> None:
        """A3: answering the correction notice resets the day the application was received.

        The documents are checked again (R12–R16): the goods may have been edited and attachments removed meanwhile.
        """
        self._require_own_enterprise(actor)
        _require_documents(attached, required)
        self._fire(APPLICATION, "resubmit", actor)
        self._mark_received(on)

    def withdraw(self, actor: Actor, reason: str = "") -> None:
        """A12: only before a decision; the lifecycle forbids it from terminal states."""
        self._require_own_enterprise(actor)
        self._fire(APPLICATION, "withdraw", actor, reason=reason)

    def require_editable_by(self, actor: Actor) -> None:
        """Documents and lines change only while the applicant holds the file (draft or correction)."""
        self._require_own_enterprise(actor)
        if self.state not in (AppState.DRAFT, AppState.CORRECTION_REQUESTED):
            raise InvalidTransition(f"an application in state {self.state} cannot be edited", rule_id="A1")

    def record_document_removed(self, actor: Actor, document_id: int, removed: Mapping[str, str]) -> None:
        """R16: the applicant takes back an attachment while holding the file; audited, the state stays."""
        require(actor, Action.REMOVE_DOCUMENT)
        self.require_editable_by(actor)
        self.note("remove_document", actor, rule_ids=("R16",), inputs={"document_id": document_id, **removed})

    def revise(
        self, actor: Actor, direction: Direction, lines: Sequence[GoodsLine], ports: Sequence[str] | None = None
    ) -> None:
        """The applicant's edit of the goods while they hold the file; audited, the state stays (R13)."""
        self.require_editable_by(actor)
        if not lines:
            raise InvalidInput("an application has at least one goods line", rule_id="R13", field="lines")
        before = {"direction": self.direction.value, "lines": len(self.lines), "ports": list(self.ports)}
        self.direction, self.lines = direction, list(lines)
        self.ports = self.ports if ports is None else checked_ports(ports)
        after = {"direction": direction.value, "lines": len(self.lines), "ports": list(self.ports)}
        self.note("revise", actor, rule_ids=("R13",), inputs={"before": before, "after": after})

    # -- the review queue: who works the file (advisory, audited) ----------------------------------------------

    def claim(self, actor: Actor, at: datetime) -> bool:
        """An officer takes an open file from the queue; taking one's own claim again changes nothing."""
        self._require_open_for_officer(actor, Action.CLAIM)
        if self.claimed_by == actor.user_id:
            return False
        if self.claimed_by is not None:
            raise InvalidTransition(f"user {self.claimed_by} works this file; ask the head to reassign it")
        self._set_claim(actor, actor.user_id, at, "claim")
        return True

    def unclaim(self, actor: Actor, at: datetime) -> None:
        """The holder (or whoever may reassign: the head) puts the file back in the queue."""
        self._require_open_for_officer(actor, Action.UNCLAIM)
        if self.claimed_by is None:
            raise InvalidTransition("nobody works this file")
        if actor.user_id != self.claimed_by and not may(actor, Action.REASSIGN):
            raise PermissionDenied("only the holder or the head gives a claimed file back")
        self._set_claim(actor, None, at, "unclaim")

    def reassign(self, actor: Actor, to: Actor, at: datetime) -> None:
        """The head (负责人) hands the file to another officer of the district, one who may claim it."""
        self._require_open_for_officer(actor, Action.REASSIGN)
        if not may(to, Action.CLAIM, self) or to.district != self.district:
            raise InvalidInput("reassign to an acceptor, reviewer, decider or head of this district", field="user_id")
        self._set_claim(actor, to.user_id, at, "reassign")

    def _require_open_for_officer(self, actor: Actor, action: Action) -> None:
        """The permission table's roles first (the doors asked the same), then R11/R7 and the queue's states."""
        require(actor, action)
        self._require_customs(actor)
        if self.state in (AppState.DRAFT, *CLOSED_APPLICATION_STATES):
            raise InvalidTransition(f"an application in state {self.state} is in no queue")

    def _release_claim(self, actor: Actor) -> None:
        """The holder's step is done: the file goes back to the queue for the next post to claim (audited)."""
        if self.claimed_by is not None:
            self._set_claim(actor, None, None, "release_claim")

    def _set_claim(self, actor: Actor, holder: int | None, at: datetime | None, trigger: str) -> None:
        inputs = {"from": self.claimed_by, "to": holder}
        self.claimed_by, self.claimed_at = holder, (at if holder is not None else None)
        self.note(trigger, actor, inputs=inputs)

    def decision_due_on(self, calendar: WorkingCalendar) -> date | None:
        """R19–R22: the last day for the decision while the clock runs; None before acceptance, paused or decided.

        The same function the statutory clock and its sweeps use, so the queue's urgency agrees with the alerts.
        """
        if self.clock is None or self.state not in (AppState.ACCEPTED, AppState.UNDER_REVIEW):
            return None
        return self.clock.due_date(calendar)

    def needs_screening(self) -> bool:
        """Screening runs once per submission: a re-delivered task finds it done and writes nothing.

        An officer who accepted or reviewed before the task ran does not make the submission go unscreened: the
        screening records what the rules said about what was submitted, whenever it lands. A file already decided or
        withdrawn is left alone: nothing decides on it any more, and a closed file's trail does not grow.
        """
        return submission_unscreened(self.state, self.received_on, self.screening)

    def record_screening(self, result: dict[str, Any]) -> None:
        """Screening changes no state but is audited like a transition, with every rule it applied."""
        self.screening = result
        rule_ids = sorted({rule for item in _decisions_in(result) for rule in item.get("rule_ids", [])})
        self.note("screen", SYSTEM_ACTOR, rule_ids=tuple(rule_ids), inputs=result)

    # -- customs --------------------------------------------------------------------------------------------------

    def request_correction(
        self, actor: Actor, deficiencies: Sequence[str], on: date, calendar: WorkingCalendar, limits: ClockLimits
    ) -> None:
        """A2 / R17: one notice listing every deficiency, only one per submission, within 5 working days."""
        self._require_allowed(APPLICATION, "request_correction")
        self._require_customs(actor)
        assert self.received_on is not None
        deadline = correction_deadline(calendar, self.received_on, limits)
        if on > deadline:
            raise GuardFailed(
                f"the correction window closed on {deadline}: the application counts as accepted", rule_id="R17"
            )
        self._fire(
            APPLICATION,
            "request_correction",
            actor,
            reason="; ".join(deficiencies),
            inputs={"deadline": deadline.isoformat()},
        )
        self.correction_notices += 1
        self.acceptor_id = actor.user_id

    def accept(self, actor: Actor, on: date, limits: ClockLimits, deemed: bool = False) -> None:
        """A4 / R17 / R19: accepted by an acceptor, or deemed accepted from the day received; the clock starts."""
        if actor.role is not Role.SYSTEM:
            self._require_customs(actor)
            self.acceptor_id = actor.user_id
        reason = "deemed accepted: no correction notice within the statutory window" if deemed else ""
        self._fire(APPLICATION, "accept", actor, reason=reason, rule_ids=("R17",) if deemed else ())
        self.accepted_on = self.received_on if deemed else on
        assert self.accepted_on is not None
        self.clock = StatutoryClock(accepted_on=self.accepted_on, limits=limits)

    def not_accept(self, actor: Actor, reason: str, rule_ids: Sequence[str] = ()) -> None:
        """A5 / R18: the matter needs no approval or is outside jurisdiction; a reason is required."""
        self._require_customs(actor)
        self._fire(APPLICATION, "not_accept", actor, reason=reason, rule_ids=tuple(rule_ids))
        self.acceptor_id = actor.user_id

    def start_review(self, actor: Actor) -> None:
        """A6 / R11: the reviewer is not the acceptor (a guard of the transition)."""
        self._require_customs(actor)
        self._fire(APPLICATION, "start_review", actor)
        self.reviewer_id = actor.user_id

    def refer_assessment(self, actor: Actor, on: date, reason: str = "") -> None:
        """A7 / R21: expert assessment time does not count, so the statutory clock pauses."""
        self._require_allowed(APPLICATION, "refer_assessment")
        self._require_reviewer(actor)
        self._fire(APPLICATION, "refer_assessment", actor, reason=reason)  # its guards check the clock runs
        self.clock = self._running_clock().pause(on)

    def conclude_assessment(self, actor: Actor, outcome: str, on: date, reason: str = "") -> None:
        """A8: pass or reject returns the file to review and resumes the clock; "correct" asks for documents.

        补正材料 is handled as a correction notice (A2): the applicant corrects and resubmits, the file is accepted
        again and assessed again, so the paused clock of this submission is never resumed.
        """
        if outcome == "correct":
            self._fire(APPLICATION, "assessment_correction", actor, reason=reason, inputs={"outcome": outcome})
            self.correction_notices += 1
            return
        self._require_allowed(APPLICATION, "assessment_done")
        resumed = self._running_clock().resume(on)
        self._fire(APPLICATION, "assessment_done", actor, reason=reason, inputs={"outcome": outcome})
        self.clock = resumed

    def override_assessment(self, actor: Actor, reason: str, assessment_id: int) -> None:
        """A8: the head lets a file the panel rejected go to decision; audited, shown to everyone who decides."""
        self._require_allowed(APPLICATION, "override_assessment")
        self._require_customs(actor)
        self._fire(APPLICATION, "override_assessment", actor, reason=reason, inputs={"assessment_id": assessment_id})

    def record_review_opinion(self, actor: Actor, recommendation: Recommendation, reason: str) -> None:
        """A6 / R11: the assigned reviewer's written opinion for the decider; the state stays, the review step ends.

        Kept as an audited event (the decider reads the latest); the reviewer's claim is released for the decider.
        """
        require(actor, Action.REVIEW_OPINION)
        self._require_reviewer(actor)
        if self.state != AppState.UNDER_REVIEW:
            raise InvalidTransition(f"an application in state {self.state} is not under review", rule_id="A6")
        if not reason.strip():
            raise InvalidInput("a review opinion gives its reasons", rule_id="A6", field="reason")
        inputs = {"recommendation": recommendation.value}
        self.note("review_opinion", actor, reason=reason.strip(), rule_ids=("A6",), inputs=inputs)
        self._release_claim(actor)

    def extend(self, actor: Actor, reason: str) -> None:
        """A9 / R20: the head extends once, by the policy's extension, telling the applicant the reason."""
        self._require_allowed(APPLICATION, "extend")
        self._require_customs(actor)
        self._fire(APPLICATION, "extend", actor, reason=reason)  # its guards: a reason, and only once
        self.clock = self._running_clock().extend()

    def grant(self, actor: Actor, grade: RiskGrade, reason: str = "", inputs: Mapping[str, Any] | None = None) -> None:
        """A10: the officer sets the grade (R34); the guards check R11 and the risk assessment (R32, A8)."""
        self._require_customs(actor)
        self._fire(APPLICATION, "grant", actor, reason=reason, inputs=dict(inputs or {}, grade=grade.value))
        self.grade = grade
        self.decider_id = actor.user_id
        self.decision_reason = reason

    def deny(self, actor: Actor, reason: str, ban: ApplicantBan | None = None) -> None:
        """A11 / R25: written reasons, with the applicant's remedies (guards: R11, R25); R26 when a ban follows."""
        self._require_customs(actor)
        if ban is None:
            self._fire(APPLICATION, "deny", actor, reason=reason, rule_ids=("R25",))
        else:
            inputs = {"ban": {"ground": ban.ground.value, "until": ban.until_on.isoformat()}}
            self._fire(APPLICATION, "deny", actor, reason=reason, rule_ids=("R25", "R26"), inputs=inputs)
        self.decider_id = actor.user_id
        self.decision_reason = reason

    # -- guards ---------------------------------------------------------------------------------------------------

    def _mark_received(self, on: date) -> None:
        self.received_on = on
        self.correction_notices = 0
        # A new submission is unscreened until its own screening lands, even one answered on the day of the first:
        # what the officers read then is about what was submitted last (the earlier screening stays in the trail).
        self.screening = None
        self.requests.append(OutboxRequest("screen_application", {"application_id": self.id}))

    def _running_clock(self) -> StatutoryClock:
        if self.clock is None:
            raise GuardFailed("the statutory clock starts at acceptance", rule_id="R19")
        return self.clock

    def _require_own_enterprise(self, actor: Actor) -> None:
        if actor.enterprise_id != self.enterprise_id:
            raise PermissionDenied("only the applicant's own enterprise may act on its application", rule_id="R11")

    def _require_customs(self, actor: Actor) -> None:
        """R11: nobody of the applicant's enterprise ever acts as customs on its applications."""
        if not actor.role.is_customs or actor.enterprise_id is not None:
            raise PermissionDenied("customs actions are for customs officers only", rule_id="R11")
        if actor.district is not None and actor.district != self.district:
            raise PermissionDenied("officers act only on their own district's applications", rule_id="R7")

    def _require_reviewer(self, actor: Actor) -> None:
        self._require_customs(actor)
        if self.reviewer_id is not None and actor.user_id != self.reviewer_id:
            raise PermissionDenied("only the assigned reviewer acts on this review", rule_id="R11")


def _require_documents(attached: set[str], required: Sequence[str]) -> None:
    missing = [doc for doc in required if doc not in attached]
    if missing:
        raise GuardFailed(f"missing required documents: {', '.join(missing)}", rule_id="R12", field="documents")


CLOSED_APPLICATION_STATES = (AppState.GRANTED, AppState.DENIED, AppState.NOT_ACCEPTED, AppState.WITHDRAWN)
# The post whose step an open file waits for (R11's three posts; a file out with the panel stays its reviewer's).
# A queue claim is for one step: a transition to another post's step (or to the applicant, or closed) releases it.
WORKING_POST: Mapping[AppState, Role] = {
    AppState.SUBMITTED: Role.ACCEPTOR,
    AppState.ACCEPTED: Role.REVIEWER,
    AppState.UNDER_REVIEW: Role.REVIEWER,
    AppState.RISK_ASSESSMENT: Role.REVIEWER,
}


def submission_unscreened(state: str, received_on: date | None, screening: Mapping[str, Any] | None) -> bool:
    """An open file's latest submission (its day of receipt) has no screening recorded for it yet."""
    screened_for = (screening or {}).get("received_on")
    open_file = state not in CLOSED_APPLICATION_STATES
    return open_file and received_on is not None and screened_for != str(received_on)


MAX_PORTS, MAX_PORT_LENGTH = 10, 80


def checked_ports(ports: Sequence[str]) -> tuple[str, ...]:
    """口岸: named ports of entry/exit, trimmed, each once, in the order given."""
    cleaned = tuple(dict.fromkeys(port.strip() for port in ports if port.strip()))
    if len(cleaned) > MAX_PORTS or any(len(port) > MAX_PORT_LENGTH for port in cleaned):
        raise InvalidInput(f"at most {MAX_PORTS} ports of at most {MAX_PORT_LENGTH} characters", field="ports")
    return cleaned


@dataclass(frozen=True)
class CertificateLine:
    """审批单货物明细: the approved quantity of one goods line, in the certificate's own unit (W1)."""

    line_no: int
    name_zh: str
    unit: str
    approved_qty: Decimal


@dataclass
class Certificate(Aggregate):
    """《入/出境特殊物品卫生检疫审批单》 (ApprovalCertificate), created ACTIVE on grant (C1)."""

    certificate_no: str = ""
    application_id: int = 0
    enterprise_id: int = 0
    district: str = ""
    direction: Direction = Direction.ENTRY
    grade: RiskGrade = RiskGrade.C
    write_off_mode: WriteOffMode = WriteOffMode.MULTIPLE
    paperless: bool = False
    follow_up: bool = False
    valid_from: date = date.min
    valid_until: date = date.min
    hold: bool = False
    lines: list[CertificateLine] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = CertState.ACTIVE

    def fire(
        self,
        trigger: str,
        actor: Actor,
        reason: str = "",
        rule_ids: Sequence[str] = (),
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        """Certificate transitions: the lifecycle's role check and guards (a written reason to end one, C5–C7)."""
        self._fire(CERTIFICATE, trigger, actor, reason=reason, rule_ids=tuple(rule_ids), inputs=dict(inputs or {}))

    def record_issue(self) -> None:
        """C1: the certificate is born ACTIVE on grant; its birth is the first event of its audit trail."""
        inputs = {
            "valid_until": self.valid_until.isoformat(),
            "grade": self.grade.value,
            "write_off_mode": self.write_off_mode.value,
            "paperless": self.paperless,
        }
        self.pending.append(
            TransitionRecord(
                "issue", "", str(self.state), SYSTEM_ACTOR, rule_ids=("R36", "R37", "R40", "R41", "R58"), inputs=inputs
            )
        )

    def is_usable_on(self, on: date) -> bool:
        """D2 / R39: active, not on hold and within validity on the declaration's acceptance date."""
        return self.state is CertState.ACTIVE and not self.hold and self.valid_from <= on <= self.valid_until


def _decisions_in(screening: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The explained decisions inside a screening result (each has result, rule_ids and reason)."""
    found: list[Mapping[str, Any]] = []
    for value in screening.values():
        items = value if isinstance(value, list) else [value]
        found += [item for item in items if isinstance(item, Mapping) and "rule_ids" in item]
    return found
