"""Read side: plain dictionaries for pages and API responses, straight from the tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from workflow.domain.calendar import WorkingCalendar
from workflow.domain.errors import NotFound
from workflow.domain.goods import GoodsLine
from workflow.store.codec import clock_from_json, line_from_json
from workflow.store.tables import (
    ApplicationLineRow,
    ApplicationRow,
    CertificateReplacementRow,
    CertificateRow,
    DocumentRow,
)


def application_view(session: Session, application_id: int, calendar: WorkingCalendar | None = None) -> dict[str, Any]:
    row = session.get(ApplicationRow, application_id)
    if row is None:
        raise NotFound(f"no application {application_id}")
    certificate = session.scalar(select(CertificateRow).where(CertificateRow.application_id == row.id))
    return _view(row, _line_rows(session, row.id), _documents(session, row.id), certificate, calendar)


@dataclass(frozen=True)
class ApplicationRead:
    """An application's row with its certificate and the certificate it replaces (R43), read in one statement."""

    row: ApplicationRow
    certificate: CertificateRow | None
    replaces_certificate_id: int | None


def application_read(session: Session, application_id: int) -> ApplicationRead | None:
    """The application page's first read: both joined rows are unique per application (certificate, replacement)."""
    found = session.execute(_APPLICATION_READ, {"application_id": application_id}).first()
    return ApplicationRead(*found) if found is not None else None


_APPLICATION_READ = (  # built once: a compiled-cache hit on every view
    select(ApplicationRow, CertificateRow, CertificateReplacementRow.old_certificate_id)
    .outerjoin(CertificateRow, CertificateRow.application_id == ApplicationRow.id)
    .outerjoin(CertificateReplacementRow, CertificateReplacementRow.application_id == ApplicationRow.id)
    .where(ApplicationRow.id == bindparam("application_id"))
)


def application_page_view(
    session: Session, read: ApplicationRead, calendar: WorkingCalendar | None = None
) -> tuple[dict[str, Any], list[GoodsLine]]:
    """`application_view` of a read row, and the goods lines with all their facts from the same line rows.

    The API's view and the page's goods table read the same `application_lines` rows: one statement for both.
    """
    lines = _line_rows(session, read.row.id)
    view = _view(read.row, lines, _documents(session, read.row.id), read.certificate, calendar)
    return view, [line_from_json(line.facts) for line in lines]


def _line_rows(session: Session, application_id: int) -> list[ApplicationLineRow]:
    return list(session.scalars(_LINE_ROWS, {"application_id": application_id}))


def _documents(session: Session, application_id: int) -> list[DocumentRow]:
    return list(session.scalars(_DOCUMENTS, {"application_id": application_id}))


# Built once, as every statement of the application's page (a compiled-cache hit per view, nothing built per view).
_LINE_ROWS = (
    select(ApplicationLineRow)
    .where(ApplicationLineRow.application_id == bindparam("application_id"))
    .order_by(ApplicationLineRow.line_no)
)
_DOCUMENTS = select(DocumentRow).where(
    DocumentRow.application_id == bindparam("application_id"), DocumentRow.removed_at.is_(None)
)


def _view(
    row: ApplicationRow,
    lines: list[ApplicationLineRow],
    documents: list[DocumentRow],
    certificate: CertificateRow | None,
    calendar: WorkingCalendar | None,
) -> dict[str, Any]:
    return {
        "id": row.id,
        "reference": row.reference,
        "enterprise_id": row.enterprise_id,
        "district": row.district,
        "direction": row.direction,
        "state": row.state,
        "version": row.version,
        "grade": row.grade,
        "received_on": _iso(row.received_on),
        "accepted_on": _iso(row.accepted_on),
        "screening": row.screening,
        "policy": {"id": row.policy_id, "hash": row.policy_hash},
        "ports": list(row.ports or []),
        "claimed_by": row.claimed_by,
        "lines": [
            {
                "line_no": line.line_no,
                "name_zh": line.name_zh,
                "category": line.category,
                "quantity": str(line.quantity),
                "unit": line.unit,
            }
            for line in lines
        ],
        "documents": [
            {"id": doc.id, "doc_type": doc.doc_type, "filename": doc.filename, "size": doc.size, "sha256": doc.sha256}
            for doc in documents
        ],
        "certificate": certificate_summary(certificate) if certificate else None,
        "clock": _clock_view(row.clock, calendar),
    }


def _clock_view(data: dict[str, Any] | None, calendar: WorkingCalendar | None) -> dict[str, Any] | None:
    """The statutory clock as stored, plus its due date where a calendar is at hand (R19-R22)."""
    clock = clock_from_json(data)
    if clock is None or data is None:
        return None
    due = clock.due_date(calendar) if calendar is not None else None
    return {**data, "paused": clock.is_paused, "due_date": _iso(due)}


def certificate_summary(row: CertificateRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "certificate_no": row.certificate_no,
        "state": row.state,
        "grade": row.grade,
        "write_off_mode": row.write_off_mode,
        "paperless": row.paperless,
        "follow_up": row.follow_up,
        "valid_from": _iso(row.valid_from),
        "valid_until": _iso(row.valid_until),
    }


def applications_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(ApplicationRow.state, func.count()).group_by(ApplicationRow.state))
    return {state: count for state, count in rows}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
