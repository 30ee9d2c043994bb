"""The holder's change requests on certificates (R43, C7) and the particulars they change (migration 0023).

A certificate's particulars are those of its latest approved amendment; before any, the enterprise's contact and
the ports its application named. An amendment of the ports is written to the application's `ports` too, since that
is what the automatic declaration check (D2) matches a port against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, aliased

from workflow.domain.certificate_changes import ChangeKind, ChangeRequest, ChangeState, FieldChange, Particulars
from workflow.domain.errors import NotFound
from workflow.domain.lifecycle import CertState
from workflow.store.replacements import DECIDED_OR_GONE
from workflow.store.tables import (
    ApplicationRow,
    CertificateChangeRow,
    CertificateReplacementRow,
    CertificateRow,
    EnterpriseRow,
)

Now = Callable[[], datetime]
_ROW = CertificateChangeRow


class SqlCertificateChanges:
    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now

    def add(self, certificate_id: int, district: str, kind: ChangeKind, reason: str, changes: tuple[FieldChange, ...],
            requested_by: int | None) -> int:  # fmt: skip
        row = _ROW(
            certificate_id=certificate_id,
            district=district,
            kind=kind.value,
            state=ChangeState.REQUESTED.value,
            reason=reason,
            changes=[{"field": c.field, "old": c.old, "new": c.new} for c in changes],
            requested_by=requested_by,
            requested_at=self.now(),
            decision_reason="",
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def get(self, change_id: int) -> ChangeRequest:
        row = self.session.get(_ROW, change_id, populate_existing=True)
        if row is None:
            raise NotFound(f"no certificate change request {change_id}", field="change_id")
        return request_of(row)

    def open_for(self, certificate_id: int) -> ChangeRequest | None:
        found = self.session.scalars(
            select(_ROW).where(_ROW.certificate_id == certificate_id, _ROW.state == ChangeState.REQUESTED.value)
        ).first()
        return request_of(found) if found is not None else None

    def decide(self, change_id: int, state: ChangeState, decided_by: int | None, reason: str) -> bool:
        """Once: False when another decision got there first (the UPDATE is guarded by the open state)."""
        values = {"state": state.value, "decided_by": decided_by, "decided_at": self.now(), "decision_reason": reason}
        result = self.session.execute(
            update(_ROW).where(_ROW.id == change_id, _ROW.state == ChangeState.REQUESTED.value).values(**values)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def lapse_open(self, certificate_id: int, reason: str) -> int:
        """The certificate ended before the district decided: its open request lapses (how many did)."""
        values = {"state": ChangeState.LAPSED.value, "decided_at": self.now(), "decision_reason": reason}
        result = self.session.execute(
            update(_ROW)
            .where(_ROW.certificate_id == certificate_id, _ROW.state == ChangeState.REQUESTED.value)
            .values(**values)
        )
        return int(getattr(result, "rowcount", 0))

    def particulars(self, certificate_id: int) -> Particulars:
        return particulars_of(self.session, certificate_id)

    def set_ports(self, certificate_id: int, ports: tuple[str, ...]) -> None:
        application_id = select(CertificateRow.application_id).where(CertificateRow.id == certificate_id)
        self.session.execute(
            update(ApplicationRow).where(ApplicationRow.id == application_id.scalar_subquery()).values(ports=[*ports])
        )


def request_of(row: CertificateChangeRow) -> ChangeRequest:
    changes = tuple(FieldChange(item["field"], item["old"], item["new"]) for item in row.changes)
    return ChangeRequest(
        id=row.id,
        certificate_id=row.certificate_id,
        kind=ChangeKind(row.kind),
        state=ChangeState(row.state),
        reason=row.reason,
        changes=changes,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


def particulars_of(session: Session, certificate_id: int) -> Particulars:
    """The latest approved amendment's values over the particulars as granted (R43)."""
    granted = session.execute(
        select(EnterpriseRow.contact_person, EnterpriseRow.phone, ApplicationRow.ports)
        .join(CertificateRow, CertificateRow.enterprise_id == EnterpriseRow.id)
        .join(ApplicationRow, ApplicationRow.id == CertificateRow.application_id)
        .where(CertificateRow.id == certificate_id)
    ).first()
    if granted is None:
        raise NotFound(f"no certificate {certificate_id}")
    amendments = session.scalars(
        select(_ROW.changes)
        .where(_ROW.certificate_id == certificate_id, _ROW.state == ChangeState.APPROVED.value)
        .where(_ROW.kind == ChangeKind.AMENDMENT.value)
        .order_by(_ROW.id)
    )
    return _particulars(granted[0], granted[1], granted[2], amendments)


def _particulars(
    contact_person: str, phone: str, ports: list[str] | None, amendments: Iterable[list[dict[str, Any]]]
) -> Particulars:
    """The particulars as granted, each approved amendment's new values over them in the order approved."""
    data: dict[str, Any] = {"contact_person": contact_person, "phone": phone, "agent": "", "ports": ports or []}
    for changes in amendments:
        data.update({item["field"]: item["new"] for item in changes})
    data["ports"] = ports or []  # the ports live on the application, amended there (module docstring)
    return Particulars.from_json(data)


def requests_of(session: Session, certificate_id: int) -> list[ChangeRequest]:
    """Every request on a certificate, newest first, for its page."""
    rows = session.scalars(select(_ROW).where(_ROW.certificate_id == certificate_id).order_by(_ROW.id.desc()))
    return [request_of(row) for row in rows]


def certificate_section(session: Session, certificate_id: int) -> dict[str, Any]:
    """The certificate page's part about changes, in one statement: usually no request and no replacement.

    Every request (newest first, as `requests_of`), the particulars (as `particulars_of`, from the approved
    amendments among those requests), and the replacement links both ways with a replacement under way (as
    `replacements.links_of_certificate`): the certificate's one row with each link as a scalar subquery, joined
    to its requests, if any.
    """
    rows = session.execute(_SECTION, {"certificate_id": certificate_id}).all()
    if not rows:
        raise NotFound(f"no certificate {certificate_id}")
    contact_person, phone, ports, next_id, next_no, previous_id, previous_no, pending, _first = rows[0]
    found = [row[-1] for row in rows if row[-1] is not None]
    amendments = [row.changes for row in reversed(found) if _is_approved_amendment(row)]
    return {
        "requests": [request_of(row) for row in found],
        "particulars": _particulars(contact_person, phone, ports, amendments),
        "replaced_by": {"id": next_id, "certificate_no": next_no} if next_id is not None else None,
        "replaces": {"id": previous_id, "certificate_no": previous_no} if previous_id is not None else None,
        "pending_application_id": pending,
    }


def _is_approved_amendment(row: CertificateChangeRow) -> bool:
    return row.state == ChangeState.APPROVED.value and row.kind == ChangeKind.AMENDMENT.value


def _links() -> list[Any]:
    """Successor (id, number), predecessor (id, number), pending replacement application: five scalar subqueries."""
    other, link, application = aliased(CertificateRow), CertificateReplacementRow, aliased(ApplicationRow)
    certificate_id: Any = bindparam("certificate_id")
    successor = (
        select(other.id)
        .join(link, link.new_certificate_id == other.id)
        .where(link.old_certificate_id == certificate_id)
        .order_by(other.id)
    )
    predecessor = (
        select(other.id)
        .join(link, link.old_certificate_id == other.id)
        .where(link.new_certificate_id == certificate_id)
    )
    pending = (
        select(link.application_id)
        .join(application, application.id == link.application_id)
        .where(link.old_certificate_id == certificate_id, link.new_certificate_id.is_(None))
        .where(application.state.not_in([state.value for state in DECIDED_OR_GONE]))
        .order_by(link.application_id)
    )
    return [
        *(_scalar(successor.with_only_columns(column)) for column in (other.id, other.certificate_no)),
        *(_scalar(predecessor.with_only_columns(column)) for column in (other.id, other.certificate_no)),
        _scalar(pending),
    ]


def _scalar(query: Any) -> Any:
    return query.limit(1).correlate(None).scalar_subquery()


# Built once: each page runs it with its certificate's id (a compiled-cache hit, no statement built per view).
_SECTION = (
    select(EnterpriseRow.contact_person, EnterpriseRow.phone, ApplicationRow.ports, *_links(), _ROW)
    .select_from(CertificateRow)
    .join(EnterpriseRow, EnterpriseRow.id == CertificateRow.enterprise_id)
    .join(ApplicationRow, ApplicationRow.id == CertificateRow.application_id)
    .outerjoin(_ROW, _ROW.certificate_id == CertificateRow.id)
    .where(CertificateRow.id == bindparam("certificate_id"))
    .order_by(_ROW.id.desc())
)


def open_in(session: Session, district: str | None, limit: int = 100) -> list[dict[str, Any]]:
    """The open requests a district's deciders can still decide (the certificate active), oldest first."""
    query = (
        select(_ROW.id, _ROW.kind, _ROW.requested_at, CertificateRow.certificate_no, CertificateRow.id)
        .join(CertificateRow, CertificateRow.id == _ROW.certificate_id)
        .where(_ROW.state == ChangeState.REQUESTED.value, CertificateRow.state == CertState.ACTIVE.value)
        .order_by(_ROW.id)
        .limit(limit)
    )
    if district is not None:
        query = query.where(_ROW.district == district)
    return [
        {"id": r[0], "kind": r[1], "requested_at": r[2], "certificate_no": r[3], "certificate_id": r[4]}
        for r in session.execute(query)
    ]


def change_view(session: Session, change_id: int) -> dict[str, Any]:
    """A request as the API and the decider's page show it, with the certificate it is about."""
    row = session.get(_ROW, change_id)
    if row is None:
        raise NotFound(f"no certificate change request {change_id}", field="change_id")
    certificate = session.get(CertificateRow, row.certificate_id)
    assert certificate is not None
    return {
        "id": row.id,
        "certificate_id": row.certificate_id,
        "certificate_no": certificate.certificate_no,
        "certificate_state": certificate.state,
        "valid_until": certificate.valid_until,
        "kind": row.kind,
        "state": row.state,
        "reason": row.reason,
        "changes": list(row.changes),
        "requested_at": row.requested_at,
        "decided_at": row.decided_at,
        "decision_reason": row.decision_reason,
    }
