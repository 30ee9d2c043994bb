"""Changes to a granted certificate (R43, C7): the holder files a request, a decider of the district decides it.

Each step is one transaction under the certificate's row lock: the request or the decision, the certificate's audit
event (an internal transition, or `cancel`) and the notices commit together. A cancellation releases the open
reservations and voids the declarations in flight exactly as any ending does (W9); an amendment changes only the
particulars, never the validity. `ChangeRequestIn` is the one input schema of the API body and the page's form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from workflow.domain import commands as c
from workflow.domain import inputs
from workflow.domain.actors import Actor, Role
from workflow.domain.certificate_changes import (
    APPROVAL_TRIGGERS,
    REFUSAL_TRIGGER,
    REQUEST_TRIGGERS,
    ChangeKind,
    ChangeRequest,
    ChangeState,
    FieldChange,
    Particulars,
    amendment,
)
from workflow.domain.enterprise import check_phone
from workflow.domain.errors import ConcurrencyConflict, GuardFailed, InvalidInput, InvalidTransition, PermissionDenied
from workflow.domain.ledger import CertificateFacts
from workflow.domain.model import checked_ports
from workflow.domain.permissions import Action, may
from workflow.service.certificates import end_reservations
from workflow.service.input_types import Reason, checked, clean
from workflow.service.notify import notify_enterprise
from workflow.service.officer_notifications import ask_fan_out
from workflow.service.ports import Dependencies, UnitOfWork

Person = Annotated[StrictStr, Field(max_length=inputs.PERSON), clean(inputs.PERSON)]
Phone = Annotated[StrictStr, Field(max_length=inputs.PHONE), clean(inputs.PHONE), checked(lambda v: _phone(v))]
Agent = Annotated[StrictStr, Field(max_length=inputs.NAME), clean(inputs.NAME)]
Port = Annotated[StrictStr, Field(max_length=inputs.PORT), clean(inputs.PORT)]


def _phone(value: str) -> str:
    if value.strip():
        check_phone(value.strip())
    return value.strip()


class ParticularsIn(BaseModel):
    """Every particular as the holder wants it to read; the diff against the certificate is what is asked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    contact_person: Person = ""
    phone: Phone = ""
    agent: Agent = ""
    ports: Annotated[list[Port], Field(max_length=10)] = []

    def value(self) -> Particulars:
        ports = checked_ports(self.ports)
        return Particulars(self.contact_person.strip(), self.phone.strip(), self.agent.strip(), ports)


class ChangeRequestIn(BaseModel):
    """R43 / C7: cancel (with its ground in `reason`) or amend (`particulars`, every one as it should read)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ChangeKind
    reason: Reason = ""
    particulars: ParticularsIn | None = None


class ChangeDecisionIn(BaseModel):
    """Approve or refuse a change request; a refusal says why (R43)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    approve: bool
    reason: Reason = ""


def parse_request(data: dict[str, Any]) -> ChangeRequestIn:
    """The form's input through the API's schema: an error names its field, as the API's would."""
    try:
        return ChangeRequestIn.model_validate(data)
    except ValidationError as error:
        first = ".".join(str(part) for part in error.errors()[0]["loc"])
        raise InvalidInput(str(error.errors()[0]["msg"]), field=first) from error


def request_command(actor: Actor, certificate_id: int, body: ChangeRequestIn) -> c.RequestCertificateChange:
    particulars = body.particulars.value() if body.particulars is not None else None
    return c.RequestCertificateChange(actor, certificate_id, body.kind, body.reason, particulars)


# -- the holder's request -------------------------------------------------------------------------------------------


def request_change(cmd: c.RequestCertificateChange, deps: Dependencies) -> int:
    """File the request (one open request per certificate); the district's deciders are told. Returns its id."""
    with deps.uow() as uow:
        certificate = uow.ledger.lock_certificate_by_id(cmd.certificate_id)
        _require(cmd.actor, Action.REQUEST_CERTIFICATE_CHANGE, certificate)
        if uow.certificate_changes.open_for(certificate.id) is not None:
            raise GuardFailed("a change request of this certificate is already open", "R43", "kind")
        changes = _asked(uow, deps, cmd, certificate)
        inputs = {"kind": cmd.kind.value, "changes": _as_json(changes)}
        _fire(uow, certificate.id, REQUEST_TRIGGERS[cmd.kind], cmd.actor, cmd.reason, inputs)
        change_id = uow.certificate_changes.add(
            certificate.id, certificate.district, cmd.kind, cmd.reason, changes, cmd.actor.user_id
        )
        kind, params = f"certificate_{cmd.kind.value}_requested", {"certificate_no": certificate.certificate_no}
        ask_fan_out(uow, kind, certificate.district, (Role.DECIDER,), params, f"certificate_change:{change_id}")
        uow.commit()
        return change_id


def _asked(
    uow: UnitOfWork, deps: Dependencies, cmd: c.RequestCertificateChange, certificate: CertificateFacts
) -> tuple[FieldChange, ...]:
    if cmd.kind is ChangeKind.CANCELLATION:
        return ()
    if cmd.particulars is None:
        raise InvalidInput("an amendment gives the particulars as they should read", "R43", "particulars")
    policy = deps.policies.policy_for(certificate.district, deps.clock.today(certificate.district))
    current = uow.certificate_changes.particulars(certificate.id)
    return amendment(current, cmd.particulars, policy.amendments.fields)


# -- the district's decision ----------------------------------------------------------------------------------------


def decide_change(cmd: c.DecideCertificateChange, deps: Dependencies) -> str:
    """Approve (cancel or amend) or refuse, once; the holder is told either way. Returns the request's new state."""
    with deps.uow() as uow:
        request = uow.certificate_changes.get(cmd.change_id)
        certificate = uow.ledger.lock_certificate_by_id(request.certificate_id)
        _require(cmd.actor, Action.DECIDE_CERTIFICATE_CHANGE, certificate)
        if request.state is not ChangeState.REQUESTED:  # decided, or lapsed with a certificate that ended first
            raise InvalidTransition(f"change request {request.id} is {request.state.value}", rule_id="R43")
        state = ChangeState.APPROVED if cmd.approve else ChangeState.REFUSED
        if not uow.certificate_changes.decide(request.id, state, cmd.actor.user_id, cmd.reason):
            raise ConcurrencyConflict(f"change request {request.id} was already decided", field="approve")
        if cmd.approve:
            _approve(uow, deps, certificate, request, cmd.actor, cmd.reason)
        else:
            inputs = {"change_id": request.id, "kind": request.kind.value}
            _fire(uow, certificate.id, REFUSAL_TRIGGER, cmd.actor, cmd.reason, inputs)
        _tell_holder(uow, certificate, request, state, cmd.reason)
        uow.commit()
        return state.value


def _approve(
    uow: UnitOfWork, deps: Dependencies, certificate: CertificateFacts, request: ChangeRequest, actor: Actor, note: str
) -> None:
    inputs = {"change_id": request.id, "changes": _as_json(request.changes)}
    if request.kind is ChangeKind.AMENDMENT:
        _fire(uow, certificate.id, APPROVAL_TRIGGERS[request.kind], actor, note, inputs)
        if "ports" in request.after:
            uow.certificate_changes.set_ports(certificate.id, tuple(request.after["ports"]))
        return
    ground = f"{request.reason} ({note})" if note.strip() else request.reason  # the holder's ground, C7
    _fire(uow, certificate.id, "cancel", actor, ground, {**inputs, "on_request_of": request.requested_by})
    end_reservations(uow, deps, certificate, "cancel", ground)
    params = {"certificate_no": certificate.certificate_no}
    ask_fan_out(uow, "certificate_cancelled", certificate.district, (Role.PORT_OFFICER, Role.DECIDER), params,
                f"certificate:{certificate.id}:cancelled")  # fmt: skip


def _tell_holder(
    uow: UnitOfWork, certificate: CertificateFacts, request: ChangeRequest, state: ChangeState, reason: str
) -> None:
    approved = f"certificate_{request.kind.value}_approved"
    kind = approved if state is ChangeState.APPROVED else "certificate_change_refused"
    params = {"certificate_no": certificate.certificate_no, "reason": reason}
    notify_enterprise(uow, certificate.enterprise_id, kind, params)


# -- shared steps ---------------------------------------------------------------------------------------------------


def _require(actor: Actor, action: Action, certificate: CertificateFacts) -> None:
    """The one permission question of the action, asked again inside the transaction, with the object's scope."""
    if not may(actor, action, certificate):
        raise PermissionDenied(f"{action.value} is not yours to do on this certificate", rule_id="R11")


def _fire(
    uow: UnitOfWork, certificate_id: int, trigger: str, actor: Actor, reason: str, inputs: dict[str, Any]
) -> None:
    aggregate = uow.certificates.get(certificate_id)
    aggregate.fire(trigger, actor, reason=reason, rule_ids=("R43",), inputs=inputs)
    uow.certificates.save(aggregate)  # version-guarded: a concurrent change of the certificate conflicts


def _as_json(changes: tuple[FieldChange, ...]) -> list[dict[str, Any]]:
    return [{"field": change.field, "old": change.old, "new": change.new} for change in changes]


HANDLERS: dict[type[c.Command], Callable[[Any, Dependencies], Any]] = {
    c.RequestCertificateChange: request_change,
    c.DecideCertificateChange: decide_change,
}
