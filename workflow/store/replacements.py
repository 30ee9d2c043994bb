"""Replacement applications (R43): which application replaces which certificate, and the certificate it became.

One row per replacement application (migration 0023); `new_certificate_id` is written in the granting transaction,
so either certificate finds the other: the old one its successor, the new one what it replaced.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, literal, select, update
from sqlalchemy.orm import Session

from workflow.domain.lifecycle import AppState
from workflow.domain.replacements import diff_lines
from workflow.store.codec import line_from_json
from workflow.store.tables import (
    ApplicationLineRow,
    ApplicationRow,
    CertificateReplacementRow,
    CertificateRow,
    DocumentRow,
    RiskAssessmentRow,
)

_ROW = CertificateReplacementRow
DECIDED_OR_GONE = (AppState.GRANTED, AppState.DENIED, AppState.NOT_ACCEPTED, AppState.WITHDRAWN)
# Asked by every screening and every grant: built once, run on the connection (the ORM's path adds only time).
_REPLACED_BY = select(_ROW.old_certificate_id).where(_ROW.application_id == bindparam("application_id"))


class SqlReplacements:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, application_id: int, old_certificate_id: int) -> None:
        self.session.add(_ROW(application_id=application_id, old_certificate_id=old_certificate_id))
        self.session.flush()

    def open_for(self, certificate_id: int) -> int | None:
        """The replacement application of the certificate still on its way to a decision, if there is one."""
        query = (
            select(_ROW.application_id)
            .join(ApplicationRow, ApplicationRow.id == _ROW.application_id)
            .where(_ROW.old_certificate_id == certificate_id)
            .where(ApplicationRow.state.not_in([state.value for state in DECIDED_OR_GONE]))
        )
        return self.session.scalars(query).first()

    def replaced_by(self, application_id: int) -> int | None:
        """The certificate this application replaces (None: not a replacement)."""
        found: int | None = self.session.connection().execute(_REPLACED_BY, {"application_id": application_id}).scalar()
        return found

    def link(self, application_id: int, new_certificate_id: int) -> None:
        self.session.execute(
            update(_ROW).where(_ROW.application_id == application_id).values(new_certificate_id=new_certificate_id)
        )

    def passed_assessment(self, application_id: int) -> int | None:
        """The latest assessment of the file that concluded with a pass and was not overridden from a rejection."""
        row = RiskAssessmentRow
        query = (
            select(row.id)
            .where(row.application_id == application_id, row.state == "concluded", row.outcome == "pass")
            .order_by(row.id.desc())
        )
        return self.session.scalars(query).first()

    def copy_documents(self, from_application_id: int, to_application_id: int) -> None:
        """The attachments still on file, carried into the draft (same bytes, same hash): removed ones stay behind."""
        columns = ("doc_type", "filename", "content_type", "size", "sha256", "uploaded_by", "uploaded_at")
        source = select(literal(to_application_id), *(getattr(DocumentRow, name) for name in columns)).where(
            DocumentRow.application_id == from_application_id, DocumentRow.removed_at.is_(None)
        )
        self.session.execute(insert(DocumentRow).from_select(["application_id", *columns], source))


def links_of_certificate(session: Session, certificate_id: int) -> dict[str, Any]:
    """The certificate's successor (granted replacement) and predecessor, each as (id, number), when there is one."""
    successor = session.execute(
        select(CertificateRow.id, CertificateRow.certificate_no)
        .join(_ROW, _ROW.new_certificate_id == CertificateRow.id)
        .where(_ROW.old_certificate_id == certificate_id)
    ).first()
    predecessor = session.execute(
        select(CertificateRow.id, CertificateRow.certificate_no)
        .join(_ROW, _ROW.old_certificate_id == CertificateRow.id)
        .where(_ROW.new_certificate_id == certificate_id)
    ).first()
    pending = session.scalar(
        select(_ROW.application_id)
        .join(ApplicationRow, ApplicationRow.id == _ROW.application_id)
        .where(_ROW.old_certificate_id == certificate_id, _ROW.new_certificate_id.is_(None))
        .where(ApplicationRow.state.not_in([state.value for state in DECIDED_OR_GONE]))
    )
    return {
        "replaced_by": dict(successor._mapping) if successor else None,
        "replaces": dict(predecessor._mapping) if predecessor else None,
        "pending_application_id": pending,
    }


def replacement_view(session: Session, application_id: int) -> dict[str, Any] | None:
    """For the application page: the certificate it replaces and each line's diff against that certificate's lines."""
    found = session.execute(
        select(CertificateRow.id, CertificateRow.certificate_no, CertificateRow.application_id, ApplicationRow.ports)
        .join(_ROW, _ROW.old_certificate_id == CertificateRow.id)
        .join(ApplicationRow, ApplicationRow.id == CertificateRow.application_id)
        .where(_ROW.application_id == application_id)
    ).first()
    if found is None:
        return None
    new_ports = session.scalar(select(ApplicationRow.ports).where(ApplicationRow.id == application_id))
    diffs = diff_lines(_lines(session, found.application_id), _lines(session, application_id))
    return {
        "certificate_id": found.id,
        "certificate_no": found.certificate_no,
        "lines": [diff.as_json() for diff in diffs],
        "ports": {"old": list(found.ports or []), "new": list(new_ports or [])},
    }


def _lines(session: Session, application_id: int) -> list[Any]:
    rows = session.scalars(
        select(ApplicationLineRow.facts)
        .where(ApplicationLineRow.application_id == application_id)
        .order_by(ApplicationLineRow.line_no)
    )
    return [line_from_json(facts) for facts in rows]
