"""Read side of the journey's remaining steps: every expert's opinion on a file, and an applicant's declarations.

Both read through indexes that lead with their filter (panel seats by assessment, declarations by enterprise and id).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow.store.api_reads import Scope, declarations
from workflow.store.tables import CertificateRow, PanelSeatRow, RiskAssessmentRow, UserRow


def panel_opinions(session: Session, application_id: int) -> dict[int, list[dict[str, Any]]]:
    """Each assessment's seats: who sat, the opinion and its reason (None while awaited), keyed by assessment id."""
    query = (
        select(PanelSeatRow, func.coalesce(func.nullif(UserRow.display_name, ""), UserRow.username))
        .join(RiskAssessmentRow, RiskAssessmentRow.id == PanelSeatRow.assessment_id)
        .join(UserRow, UserRow.id == PanelSeatRow.expert_id)
        .where(RiskAssessmentRow.application_id == application_id)
        .order_by(PanelSeatRow.assessment_id, PanelSeatRow.id)
    )
    seats: dict[int, list[dict[str, Any]]] = {}
    for seat, expert in session.execute(query):
        seats.setdefault(seat.assessment_id, []).append(
            {
                "expert": expert,
                "opinion": seat.opinion,
                "reason": seat.reason,
                "due_on": seat.due_on,
                "submitted_at": seat.submitted_at,
            }
        )
    return seats


def enterprise_declarations(
    session: Session, enterprise_id: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """An enterprise's declarations, newest first, each with the number of the certificate it cites."""
    rows = declarations(session, Scope(enterprise_id=enterprise_id), before, limit)
    ids = {row["certificate_id"] for row in rows}
    numbers = dict(
        session.execute(
            select(CertificateRow.id, CertificateRow.certificate_no).where(CertificateRow.id.in_(ids))
        ).all()
    )
    return [row | {"certificate_no": numbers.get(row["certificate_id"], "")} for row in rows]
