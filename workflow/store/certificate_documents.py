"""Signed certificate documents: the holder facts they print, their stored signatures, and the live status online.

Used by the render task (tasks/documents.py) and by verification (web/verify.py, `specgoods verify --online`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from workflow.domain.errors import NotFound
from workflow.domain.signature import Holder
from workflow.store.tables import CertificateDocumentRow, CertificateLineRow, CertificateRow, EnterpriseRow


def holder_of(session: Session, enterprise_id: int) -> Holder:
    row = session.get(EnterpriseRow, enterprise_id)
    if row is None:
        raise NotFound(f"no enterprise {enterprise_id}")
    return Holder(row.name, row.uscc)


def document_of(session: Session, certificate_id: int) -> CertificateDocumentRow | None:
    return session.scalar(select(CertificateDocumentRow).where(CertificateDocumentRow.certificate_id == certificate_id))


@dataclass(frozen=True)
class CertificateRead:
    """A certificate's row and its signed document (None until the worker rendered it), read in one statement."""

    row: CertificateRow
    document: CertificateDocumentRow | None


def certificate_read(session: Session, certificate_id: int) -> CertificateRead | None:
    """The certificate page's first read: the document is unique per certificate, so one row or none."""
    found = session.execute(_CERTIFICATE_READ, {"certificate_id": certificate_id}).first()
    return CertificateRead(*found) if found is not None else None


_CERTIFICATE_READ = (  # built once: a compiled-cache hit on every view
    select(CertificateRow, CertificateDocumentRow)
    .outerjoin(CertificateDocumentRow, CertificateDocumentRow.certificate_id == CertificateRow.id)
    .where(CertificateRow.id == bindparam("certificate_id"))
)


def document_by_number(session: Session, certificate_no: str) -> CertificateDocumentRow | None:
    return session.scalar(
        select(CertificateDocumentRow)
        .join(CertificateRow, CertificateRow.id == CertificateDocumentRow.certificate_id)
        .where(CertificateRow.certificate_no == certificate_no)
    )


def document_by_hash(session: Session, pdf_sha256: str) -> CertificateDocumentRow | None:
    return session.scalar(select(CertificateDocumentRow).where(CertificateDocumentRow.pdf_sha256 == pdf_sha256))


def add_document(
    session: Session, certificate_id: int, payload: dict[str, Any], signature: str, now: datetime
) -> CertificateDocumentRow:
    """Flushed at once: of two renders racing, the second fails here on the unique certificate id."""
    row = CertificateDocumentRow(
        certificate_id=certificate_id,
        pdf_sha256=payload["pdf_sha256"],
        payload=payload,
        signature=signature,
        key_id=payload["kid"],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def live_status(session: Session, certificate_no: str) -> dict[str, Any] | None:
    """The certificate as the database holds it now: state, hold and what each line has left."""
    certificate = session.scalar(select(CertificateRow).where(CertificateRow.certificate_no == certificate_no))
    if certificate is None:
        return None
    line = CertificateLineRow
    rows = session.execute(
        select(line.line_no, line.name_zh, line.unit, line.approved_qty - line.committed_qty - line.reserved_qty)
        .where(line.certificate_id == certificate.id)
        .order_by(line.line_no)
    )
    return {
        "certificate_no": certificate.certificate_no,
        "state": certificate.state,
        "hold": certificate.hold,
        "valid_until": certificate.valid_until.isoformat(),
        "lines": [
            {"line_no": no, "name": name, "unit": unit, "remaining_qty": str(remaining)}
            for no, name, unit, remaining in rows
        ],
    }
