"""Changes to a granted certificate (R43): requests, the field-level diff, no declaration once cancelled (C7).

Only non-substantive particulars change on a certificate (contacts, the agent, and the ports where the district's
policy profile allows); everything else needs a new application. The validity is not a particular: an amendment
never moves it (docs/certificate-changes.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.lifecycle import CertState


class ChangeKind(StrEnum):
    """What the holder asks for: cancel the certificate (注销, C7) or amend its particulars (R43)."""

    CANCELLATION = "cancellation"
    AMENDMENT = "amendment"


class ChangeState(StrEnum):
    """A request waits for the district, which approves or refuses it once; it lapses if the certificate ends first."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    LAPSED = "lapsed"


# The trigger each request fires on the certificate when filed, and when approved.
REQUEST_TRIGGERS: Mapping[ChangeKind, str] = {
    ChangeKind.CANCELLATION: "request_cancellation",
    ChangeKind.AMENDMENT: "request_amendment",
}
APPROVAL_TRIGGERS: Mapping[ChangeKind, str] = {ChangeKind.CANCELLATION: "cancel", ChangeKind.AMENDMENT: "amend"}
REFUSAL_TRIGGER = "refuse_change"


@dataclass(frozen=True)
class Particulars:
    """The non-substantive particulars of a certificate (R43): who to contact, the agent, and the ports (口岸)."""

    contact_person: str = ""
    phone: str = ""
    agent: str = ""
    ports: tuple[str, ...] = ()

    def as_json(self) -> dict[str, str | list[str]]:
        return {"contact_person": self.contact_person, "phone": self.phone, "agent": self.agent, "ports": [*self.ports]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Particulars:
        ports = data.get("ports") or ()
        text = {name: str(data.get(name) or "") for name in ("contact_person", "phone", "agent")}
        return cls(**text, ports=tuple(str(port) for port in ports) if isinstance(ports, list | tuple) else ())


PARTICULAR_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(Particulars))


@dataclass(frozen=True)
class FieldChange:
    """One line of the diff a decider reads: the field, its value on the certificate and the value asked for."""

    field: str
    old: str | list[str]
    new: str | list[str]


@dataclass(frozen=True)
class ChangeRequest:
    """A holder's request to change a certificate, as filed and as decided."""

    id: int
    certificate_id: int
    kind: ChangeKind
    state: ChangeState
    reason: str
    changes: tuple[FieldChange, ...]
    requested_by: int | None
    requested_at: datetime
    decided_by: int | None = None
    decided_at: datetime | None = None
    decision_reason: str = ""

    @property
    def after(self) -> dict[str, str | list[str]]:
        return {change.field: change.new for change in self.changes}


def diff(current: Particulars, asked: Particulars) -> tuple[FieldChange, ...]:
    """The fields whose value differs, in the certificate's field order (ports compared as given, order kept)."""
    old, new = current.as_json(), asked.as_json()
    return tuple(FieldChange(name, old[name], new[name]) for name in PARTICULAR_FIELDS if old[name] != new[name])


def amendment(current: Particulars, asked: Particulars, amendable: Iterable[str]) -> tuple[FieldChange, ...]:
    """R43: the diff of an amendment request; refused when nothing changes or a field the profile keeps fixed does."""
    changes = diff(current, asked)
    if not changes:
        raise InvalidInput("the request changes nothing: edit at least one particular", rule_id="R43", field="kind")
    allowed = frozenset(amendable)
    for change in changes:
        if change.field not in allowed:
            message = f"{change.field} is not amendable under this district's policy: apply for a replacement (R43)"
            raise GuardFailed(message, rule_id="R43", field=change.field)
    return changes


def amended(current: Particulars, changes: Iterable[FieldChange]) -> Particulars:
    """The particulars after an approved amendment: the validity and every quantity are not among them (§8)."""
    data: dict[str, object] = dict(current.as_json())
    data.update({change.field: change.new for change in changes})
    return Particulars.from_json(data)


def require_not_cancelled(state: CertState, certificate_no: str) -> None:
    """C7 / R43: a cancelled certificate (on request, or superseded by a replacement) takes no new declaration."""
    if state is CertState.CANCELLED:
        message = f"certificate {certificate_no} is cancelled: no declaration is accepted"
        raise GuardFailed(message, "C7", "certificate_no")
