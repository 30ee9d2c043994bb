"""The three lifecycles (application, certificate, declaration): states, transition tables and shared machines.

Each table is the single source of truth: the `transitions` machine, the diagrams, the docs and the tests derive
from it. This is the only module in the project that imports `transitions`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from transitions import Machine, MachineError

from workflow.domain.actors import Role
from workflow.domain.errors import GuardFailed, InvalidTransition
from workflow.domain.guards import (
    ASSESSMENT_CONCLUDED,
    CLOCK_RUNNING,
    DECIDER_SEPARATED,
    DEFICIENCIES_LISTED,
    EXTENDED_ONCE,
    HAS_LINES,
    LAB_MATCHES,
    NO_STANDING_REJECTION,
    NOT_BANNED,
    ONE_NOTICE,
    PANEL_REJECTED,
    REASON_FOR_DENIAL,
    REASON_FOR_EXTENSION,
    REASON_FOR_NOT_ACCEPTING,
    REASON_FOR_OVERRIDE,
    REASON_TO_ASK_CANCELLATION,
    REASON_TO_CANCEL,
    REASON_TO_REFUSE_CHANGE,
    REASON_TO_REVOKE,
    REASON_TO_WITHDRAW,
    REJECTION_OVERRIDDEN,
    REVIEWER_SEPARATED,
    Guard,
    GuardInput,
)


class AppState(StrEnum):
    """States of an approval application (DOMAIN.md §(c) C1)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    CORRECTION_REQUESTED = "correction_requested"
    ACCEPTED = "accepted"
    UNDER_REVIEW = "under_review"
    RISK_ASSESSMENT = "risk_assessment"
    GRANTED = "granted"
    DENIED = "denied"
    NOT_ACCEPTED = "not_accepted"
    WITHDRAWN = "withdrawn"


class CertState(StrEnum):
    """States of an approval certificate (C2); the C8 follow-up hold is a flag on the certificate, not a state."""

    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    CANCELLED = "cancelled"


class DeclState(StrEnum):
    """States of a declaration (C3). RELEASED is final unless entry follow-up applies (`await_follow_up`, D8)."""

    DECLARED = "declared"
    DOC_CHECKED = "doc_checked"
    PORT_REVIEW = "port_review"
    INSPECTION = "inspection"
    LAB_HOLD = "lab_hold"
    RELEASED = "released"
    DISPOSAL_ORDERED = "disposal_ordered"
    CLOSED = "closed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    FOLLOW_UP_PENDING = "follow_up_pending"
    FOLLOW_UP_PASSED = "follow_up_passed"
    FOLLOW_UP_FAILED = "follow_up_failed"


State: TypeAlias = AppState | CertState | DeclState
S = TypeVar("S", bound=StrEnum)


class Stateful(Protocol[S]):
    """Anything whose `state` attribute holds a member of a lifecycle's state enum (an aggregate, an ORM row)."""

    state: S


@dataclass(frozen=True)
class TransitionSpec(Generic[S]):
    """One row of a lifecycle table: who may fire `trigger` from `sources` to `dest`, and under which rules.

    `guards` run, in order, every time the trigger fires (workflow/domain/guards.py); each refusal names its rule.
    """

    trigger: str
    sources: tuple[S, ...]
    dest: S
    actors: tuple[Role, ...]
    rule_ids: tuple[str, ...]
    summary: str
    guards: tuple[Guard, ...] = ()


# A13 (sla_breach) raises an alert and changes no state, so it has no row here; the deadline sweep owns it.
APPLICATION_TABLE: tuple[TransitionSpec[AppState], ...] = (
    TransitionSpec(
        "submit",
        (AppState.DRAFT,),
        AppState.SUBMITTED,
        (Role.APPLICANT,),
        ("A1",),
        "Submit with every mandatory document.",
        (HAS_LINES, NOT_BANNED),
    ),
    TransitionSpec(
        "request_correction",
        (AppState.SUBMITTED,),
        AppState.CORRECTION_REQUESTED,
        (Role.ACCEPTOR,),
        ("A2", "R17"),
        "One notice listing every deficiency, within 5 working days.",
        (ONE_NOTICE, DEFICIENCIES_LISTED),
    ),
    TransitionSpec(
        "resubmit",
        (AppState.CORRECTION_REQUESTED,),
        AppState.SUBMITTED,
        (Role.APPLICANT,),
        ("A3",),
        "Resubmit the corrected application; resets received_at.",
        (NOT_BANNED,),
    ),
    TransitionSpec(
        "accept",
        (AppState.SUBMITTED,),
        AppState.ACCEPTED,
        (Role.ACCEPTOR, Role.SYSTEM),
        ("A4", "R17", "R19"),
        "Accept, or deemed accepted after 5 working days; starts the decision clock.",
    ),
    TransitionSpec(
        "not_accept",
        (AppState.SUBMITTED,),
        AppState.NOT_ACCEPTED,
        (Role.ACCEPTOR,),
        ("A5", "R18"),
        "Needs no approval or is outside jurisdiction; a reason code is required.",
        (REASON_FOR_NOT_ACCEPTING,),
    ),
    TransitionSpec(
        "start_review",
        (AppState.ACCEPTED,),
        AppState.UNDER_REVIEW,
        (Role.REVIEWER,),
        ("A6", "R11"),
        "A reviewer other than the acceptor starts the review.",
        (REVIEWER_SEPARATED,),
    ),
    TransitionSpec(
        "refer_assessment",
        (AppState.UNDER_REVIEW,),
        AppState.RISK_ASSESSMENT,
        (Role.REVIEWER,),
        ("A7", "R21", "R32", "R61"),
        "Refer to risk assessment (mandatory for grade B); pauses the clock.",
        (CLOCK_RUNNING, NO_STANDING_REJECTION),
    ),
    TransitionSpec(
        "assessment_done",
        (AppState.RISK_ASSESSMENT,),
        AppState.UNDER_REVIEW,
        (Role.EXPERT, Role.SYSTEM),
        ("A8",),
        "The expert panel returns its outcome; resumes the clock.",
    ),
    TransitionSpec(
        "assessment_correction",
        (AppState.RISK_ASSESSMENT,),
        AppState.CORRECTION_REQUESTED,
        (Role.EXPERT, Role.SYSTEM),
        ("A8", "R17"),
        "The panel asks for more documents (补正材料): the applicant corrects and resubmits; assessed again.",
    ),
    TransitionSpec(
        "extend",
        (AppState.UNDER_REVIEW,),
        AppState.UNDER_REVIEW,
        (Role.HEAD,),
        ("A9", "R20"),
        "Extend the time limit once by 10 working days (internal: the state is unchanged).",
        (REASON_FOR_EXTENSION, EXTENDED_ONCE),
    ),
    TransitionSpec(
        "override_assessment",
        (AppState.UNDER_REVIEW,),
        AppState.UNDER_REVIEW,
        (Role.HEAD,),
        ("A8",),
        "The head overrides the panel's rejection with a written reason (internal: the state is unchanged).",
        (PANEL_REJECTED, REASON_FOR_OVERRIDE),
    ),
    TransitionSpec(
        "grant",
        (AppState.UNDER_REVIEW,),
        AppState.GRANTED,
        (Role.DECIDER,),
        ("A10", "R11", "R19", "R23"),
        "A decider other than the acceptor and reviewer grants; a certificate is issued.",
        (DECIDER_SEPARATED, ASSESSMENT_CONCLUDED, REJECTION_OVERRIDDEN, LAB_MATCHES),
    ),
    TransitionSpec(
        "deny",
        (AppState.UNDER_REVIEW,),
        AppState.DENIED,
        (Role.DECIDER,),
        ("A11", "R25"),
        "Deny with written reasons and remedies.",
        (DECIDER_SEPARATED, REASON_FOR_DENIAL),
    ),
    TransitionSpec(
        "withdraw",
        (
            AppState.DRAFT,
            AppState.SUBMITTED,
            AppState.CORRECTION_REQUESTED,
            AppState.ACCEPTED,
            AppState.UNDER_REVIEW,
            AppState.RISK_ASSESSMENT,
        ),
        AppState.WITHDRAWN,
        (Role.APPLICANT,),
        ("A12",),
        "The applicant withdraws before a decision.",
    ),
)

CERTIFICATE_TABLE: tuple[TransitionSpec[CertState], ...] = (
    TransitionSpec(
        "exhaust",
        (CertState.ACTIVE,),
        CertState.EXHAUSTED,
        (Role.SYSTEM,),
        ("C3", "R40", "W4"),
        "Grade A after its first committed write-off; B/C/D when every line's remaining quantity is 0.",
    ),
    TransitionSpec(
        "expire",
        (CertState.ACTIVE,),
        CertState.EXPIRED,
        (Role.SYSTEM,),
        ("C4", "R38"),
        "valid_until has passed; the remaining quantity lapses.",
    ),
    TransitionSpec(
        "withdraw",
        (CertState.ACTIVE, CertState.EXHAUSTED, CertState.EXPIRED),
        CertState.WITHDRAWN,
        (Role.DECIDER, Role.DEST_OFFICER),
        ("C5", "R56"),
        "Withdraw after a follow-up mismatch, also after exhaustion or expiry.",
        (REASON_TO_WITHDRAW,),
    ),
    TransitionSpec(
        "revoke",
        (CertState.ACTIVE,),
        CertState.REVOKED,
        (Role.DECIDER,),
        ("C6", "R26"),
        "Revoke for fraud or an unlawful grant; fraud also bars the applicant for three years (R26).",
        (REASON_TO_REVOKE,),
    ),
    TransitionSpec(
        "cancel",
        (CertState.ACTIVE,),
        CertState.CANCELLED,
        (Role.DECIDER,),
        ("C7", "R43"),
        "Cancel on request, dissolution of the entity or a superseding application.",
        (REASON_TO_CANCEL,),
    ),
    TransitionSpec(
        "reactivate",
        (CertState.EXHAUSTED,),
        CertState.ACTIVE,
        (Role.DECIDER, Role.SYSTEM),
        ("W10", "C3"),
        "A released reservation or an approved reversal brings a B/C/D certificate back within validity (the ledger "
        "checks today ≤ valid_until before firing it).",
    ),
    TransitionSpec(
        "request_cancellation",
        (CertState.ACTIVE,),
        CertState.ACTIVE,
        (Role.APPLICANT,),
        ("C7", "R43"),
        "The holder asks the district to cancel (注销) the certificate, with its ground (internal: the state is "
        "unchanged until a decider cancels it).",
        (REASON_TO_ASK_CANCELLATION,),
    ),
    TransitionSpec(
        "request_amendment",
        (CertState.ACTIVE,),
        CertState.ACTIVE,
        (Role.APPLICANT,),
        ("R43",),
        "The holder asks to change non-substantive particulars: contacts, agent, ports where the profile allows "
        "(internal).",
    ),
    TransitionSpec(
        "amend",
        (CertState.ACTIVE,),
        CertState.ACTIVE,
        (Role.DECIDER,),
        ("R43",),
        "A decider approves an amendment: the particulars change, the validity never moves (internal).",
    ),
    TransitionSpec(
        "refuse_change",
        (CertState.ACTIVE,),
        CertState.ACTIVE,
        (Role.DECIDER,),
        ("R43",),
        "A decider refuses a requested cancellation or amendment, saying why (internal).",
        (REASON_TO_REFUSE_CHANGE,),
    ),
    TransitionSpec(
        "supersede",
        (CertState.ACTIVE,),
        CertState.CANCELLED,
        (Role.SYSTEM,),
        ("C7", "R43", "W9"),
        "The grant of a replacement application cancels the certificate it replaces, in the same transaction: open "
        "reservations are released, the write-off history stays.",
    ),
)

DECLARATION_TABLE: tuple[TransitionSpec[DeclState], ...] = (
    TransitionSpec(
        "pass_check",
        (DeclState.DECLARED,),
        DeclState.DOC_CHECKED,
        (Role.SYSTEM,),
        ("D2",),
        "The automatic check passes: certificate, validity, direction, ports and quantity.",
    ),
    TransitionSpec(
        "hold",
        (DeclState.DECLARED,),
        DeclState.PORT_REVIEW,
        (Role.SYSTEM,),
        ("D2", "W5", "W6"),
        "The automatic check fails: no release; held for a port officer with a reason.",
    ),
    TransitionSpec(
        "clear_hold",
        (DeclState.PORT_REVIEW,),
        DeclState.DOC_CHECKED,
        (Role.PORT_OFFICER,),
        ("W6",),
        "A port officer clears the hold, e.g. splitting an over-quantity shipment.",
    ),
    TransitionSpec(
        "reject",
        (DeclState.PORT_REVIEW,),
        DeclState.REJECTED,
        (Role.PORT_OFFICER,),
        ("D2", "W4", "W7"),
        "A port officer rejects the declaration.",
    ),
    TransitionSpec(
        "release",
        (DeclState.DOC_CHECKED,),
        DeclState.RELEASED,
        (Role.SYSTEM, Role.PORT_OFFICER),
        ("D3", "D6"),
        "Document-only release; the write-off is committed at release.",
    ),
    TransitionSpec(
        "inspect",
        (DeclState.DOC_CHECKED,),
        DeclState.INSPECTION,
        (Role.SYSTEM,),
        ("D3", "E1"),
        "The inspection policy routes the shipment to physical inspection.",
    ),
    TransitionSpec(
        "pass_inspection",
        (DeclState.INSPECTION,),
        DeclState.RELEASED,
        (Role.PORT_OFFICER,),
        ("D4", "R48"),
        "The inspection passes and the goods are released.",
    ),
    TransitionSpec(
        "sample",
        (DeclState.INSPECTION,),
        DeclState.LAB_HOLD,
        (Role.PORT_OFFICER,),
        ("D5", "R47"),
        "Samples go to the lab; no movement or use until they pass.",
    ),
    TransitionSpec(
        "lab_pass",
        (DeclState.LAB_HOLD,),
        DeclState.RELEASED,
        (Role.PORT_OFFICER,),
        ("R47", "R48"),
        "The lab test passes and the goods are released.",
    ),
    TransitionSpec(
        "fail",
        (DeclState.INSPECTION, DeclState.LAB_HOLD, DeclState.PORT_REVIEW),
        DeclState.DISPOSAL_ORDERED,
        (Role.PORT_OFFICER,),
        ("D7", "R49"),
        "Return or destruction is ordered; the reservation is released with no write-off.",
    ),
    TransitionSpec(
        "dispose",
        (DeclState.DISPOSAL_ORDERED,),
        DeclState.CLOSED,
        (Role.PORT_OFFICER,),
        ("D7",),
        "The goods have been returned or destroyed.",
    ),
    TransitionSpec(
        "withdraw",
        (DeclState.DECLARED, DeclState.DOC_CHECKED, DeclState.PORT_REVIEW, DeclState.INSPECTION),
        DeclState.WITHDRAWN,
        (Role.APPLICANT, Role.PORT_OFFICER),
        ("W10",),
        "The declaration is withdrawn before release; its reservation is cancelled.",
    ),
    TransitionSpec(
        "void",
        (DeclState.DECLARED, DeclState.DOC_CHECKED, DeclState.PORT_REVIEW, DeclState.INSPECTION, DeclState.LAB_HOLD),
        DeclState.WITHDRAWN,
        (Role.SYSTEM,),
        ("W9",),
        "The certificate was cancelled, withdrawn or revoked; open reservations are released.",
    ),
    TransitionSpec(
        "await_follow_up",
        (DeclState.RELEASED,),
        DeclState.FOLLOW_UP_PENDING,
        (Role.SYSTEM,),
        ("D8", "R53"),
        "Entry of grade A/B needs follow-up; the only way out of RELEASED.",
    ),
    TransitionSpec(
        "follow_up_pass",
        (DeclState.FOLLOW_UP_PENDING,),
        DeclState.FOLLOW_UP_PASSED,
        (Role.DEST_OFFICER,),
        ("D9", "R55"),
        "The destination officer's follow-up check passes.",
    ),
    TransitionSpec(
        "follow_up_fail",
        (DeclState.FOLLOW_UP_PENDING,),
        DeclState.FOLLOW_UP_FAILED,
        (Role.DEST_OFFICER,),
        ("D9", "R56"),
        "The follow-up check fails; the certificate is withdrawn (C5).",
    ),
)


def _build_machine(name: str, states: type[S], initial: S, specs: tuple[TransitionSpec[S], ...]) -> Machine:
    """One shared machine: no model is ever registered, so it holds no per-object state."""
    machine = Machine(model=None, states=states, initial=initial, auto_transitions=False, name=name)
    for spec in specs:
        # A self-loop is an internal transition (dest None): transitions then runs no exit/enter for it.
        dest = None if spec.sources == (spec.dest,) else spec.dest.name
        machine.add_transition(spec.trigger, [source.name for source in spec.sources], dest)
    return machine


def _index(name: str, specs: tuple[TransitionSpec[S], ...]) -> dict[str, TransitionSpec[S]]:
    by_trigger = {spec.trigger: spec for spec in specs}
    if len(by_trigger) != len(specs):
        raise ValueError(f"{name}: a trigger appears in more than one row of the table")
    return by_trigger


class Lifecycle(Generic[S]):
    """A lifecycle table and the one `transitions` machine built from it, shared by every object of its kind.

    `fire` passes the object straight to the machine's event (`Event.trigger(model)`), which reads and writes only
    `model.state`; the object is never registered (`add_model`), so no trigger methods are bound onto it and the
    machine keeps no reference to it. The machine is not queued, so every call keeps its data in its own
    `EventData` and concurrent fires on different objects need no lock.
    """

    def __init__(self, name: str, states: type[S], initial: S, specs: tuple[TransitionSpec[S], ...]) -> None:
        self._name = name
        self._states = tuple(states)
        self._initial = initial
        self._specs = specs
        self._by_trigger = _index(name, specs)
        self._allowed = {state: tuple(s.trigger for s in specs if state in s.sources) for state in self._states}
        self._machine = _build_machine(name, states, initial, specs)
        self._hash = _sha256_of_table(name, self._states, initial, specs)

    @property
    def name(self) -> str:
        return self._name

    @property
    def initial(self) -> S:
        return self._initial

    @property
    def states(self) -> tuple[S, ...]:
        return self._states

    @property
    def specs(self) -> tuple[TransitionSpec[S], ...]:
        return self._specs

    @property
    def terminal_states(self) -> tuple[S, ...]:
        """States that no trigger leaves, in declaration order."""
        return tuple(state for state in self._states if not self._allowed[state])

    def fire(self, obj: Stateful[S], trigger: str, given: GuardInput | None = None) -> tuple[S, S]:
        """Fire `trigger` on `obj` through the shared machine, after its guards; return (from_state, to_state)."""
        source = obj.state
        spec = self._by_trigger.get(trigger)
        if spec is None:
            raise InvalidTransition(f"{self._name}: unknown trigger {trigger!r} (state {source.value!r})", "lifecycle")
        if spec.guards and self.can_fire(source, trigger):  # guards read fields that only allowed states have set
            if given is None:
                raise GuardFailed(f"{self._name}: {trigger} is guarded and needs who fires it", spec.rule_ids[0])
            for guard in spec.guards:
                guard.enforce(obj, given)
        try:
            moved = self._machine.events[trigger].trigger(obj)
        except MachineError as err:
            message = f"{self._name}: trigger {trigger!r} is not allowed from state {source.value!r}"
            raise InvalidTransition(message, spec.rule_ids[0]) from err
        if not moved:
            message = f"{self._name}: a condition refused trigger {trigger!r} from state {source.value!r}"
            raise GuardFailed(message, spec.rule_ids[0])
        return source, obj.state

    def allowed_triggers(self, state: S) -> tuple[str, ...]:
        return self._allowed[state]

    def spec(self, trigger: str) -> TransitionSpec[S]:
        spec = self._by_trigger.get(trigger)
        if spec is None:
            raise InvalidTransition(f"{self._name}: unknown trigger {trigger!r}", "lifecycle")
        return spec

    def can_fire(self, state: S, trigger: str) -> bool:
        return trigger in self._allowed[state]

    def is_terminal(self, state: S) -> bool:
        return not self._allowed[state]

    def mermaid(self, highlight: S | None = None) -> str:
        """A mermaid `stateDiagram-v2` of the table; `highlight` gets the `current` class (a page shows its object)."""
        lines = [
            "stateDiagram-v2",
            "    direction LR",
            "    classDef terminal fill:#eceff1,stroke:#455a64",
            "    classDef current fill:#fff3b0,stroke:#d97706,stroke-width:3px",
            *(f'    state "{state.name}" as {state.value}' for state in self._states),
            f"    [*] --> {self._initial.value}",
            *(f"    {src.value} --> {spec.dest.value}: {spec.trigger}" for spec in self._specs for src in spec.sources),
            *(f"    {state.value} --> [*]" for state in self.terminal_states),
            f"    class {','.join(state.value for state in self.terminal_states)} terminal",
        ]
        if highlight is not None:
            lines.append(f"    class {highlight.value} current")
        return "\n".join(lines) + "\n"

    def definition_hash(self) -> str:
        """sha256 of the canonical JSON of the table: versions the machine in audit records."""
        return self._hash


def _sha256_of_table(name: str, states: tuple[S, ...], initial: S, specs: tuple[TransitionSpec[S], ...]) -> str:
    document = {
        "lifecycle": name,
        "states": [state.value for state in states],
        "initial": initial.value,
        "transitions": [
            {
                "trigger": spec.trigger,
                "sources": [source.value for source in spec.sources],
                "dest": spec.dest.value,
                "actors": [actor.value for actor in spec.actors],
                "rule_ids": list(spec.rule_ids),
                "summary": spec.summary,
                "guards": [[guard.name, guard.rule_id] for guard in spec.guards],
            }
            for spec in specs
        ],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


APPLICATION: Lifecycle[AppState] = Lifecycle("application", AppState, AppState.DRAFT, APPLICATION_TABLE)
CERTIFICATE: Lifecycle[CertState] = Lifecycle("certificate", CertState, CertState.ACTIVE, CERTIFICATE_TABLE)
DECLARATION: Lifecycle[DeclState] = Lifecycle("declaration", DeclState, DeclState.DECLARED, DECLARATION_TABLE)

# Lookup by name (docs, web pages); use the typed constants above where the lifecycle is known statically.
LIFECYCLES: Mapping[str, Lifecycle[Any]] = MappingProxyType(
    {lifecycle.name: lifecycle for lifecycle in (APPLICATION, CERTIFICATE, DECLARATION)}
)
