"""Reads of an enterprise's credit for the pages and the API: the tier in force, the pending change, the history.

The tier in force and the pending change come from the domain's own reading (`standing`, R73), so a page never shows
a tier other than the one a decision of that day reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from workflow.domain.credit import CreditRecord, DefaultCredit
from workflow.domain.credit_events import standing
from workflow.domain.policy import CreditRegime, CreditTier, Policy
from workflow.service.ports import Dependencies
from workflow.store.tables import CreditChangeRow, CreditRecordRow, EnterpriseRow, UserRow, ViolationCaseRow

_RECORD = CreditRecordRow


_HISTORIES = select(  # built once: the queue and the application's page ask on every view
    _RECORD.enterprise_id, _RECORD.tier, _RECORD.regime, _RECORD.effective_from, _RECORD.effective_to
).where(_RECORD.enterprise_id.in_(bindparam("enterprise_ids", expanding=True)))


def histories(session: Session, enterprise_ids: Iterable[int]) -> dict[int, list[CreditRecord]]:
    """Every listed enterprise's records in one query (a queue page asks for a page of enterprises at once)."""
    wanted = sorted(set(enterprise_ids))
    found: dict[int, list[CreditRecord]] = {enterprise_id: [] for enterprise_id in wanted}
    if not wanted:
        return found
    # Plain columns: the ORM's execution path would add nothing but time.
    rows = session.connection().execute(_HISTORIES, {"enterprise_ids": wanted})
    for enterprise_id, tier, regime, start, end in rows:
        found[enterprise_id].append(CreditRecord(enterprise_id, CreditTier(tier), CreditRegime(regime), start, end))
    return found


def summary(records: list[CreditRecord], today: date, policy: Policy) -> dict[str, Any]:
    """{tier, regime, since, until, rated, pending: {tier, from} | None}: what the queue and the pages show."""
    in_force, ahead = standing(records, today, policy)
    rated = not isinstance(in_force, DefaultCredit)
    return {
        "tier": in_force.tier.value,
        "regime": in_force.regime.value,
        "since": in_force.effective_from if isinstance(in_force, CreditRecord) else None,
        "until": in_force.effective_to if isinstance(in_force, CreditRecord) else None,
        "rated": rated,
        "pending": {"tier": ahead.tier.value, "from": ahead.effective_from} if ahead is not None else None,
    }


def summary_today(records: list[CreditRecord], district: str, deps: Dependencies) -> dict[str, Any]:
    """The summary on the district's today, under the profile it has adopted on that day."""
    today = deps.clock.today(district)
    return summary(records, today, deps.policies.policy_for(district, today))


def view_today(session: Session, enterprise_id: int, district: str, deps: Dependencies) -> dict[str, Any]:
    today = deps.clock.today(district)
    return credit_view(session, enterprise_id, today, deps.policies.policy_for(district, today))


def credit_view(session: Session, enterprise_id: int, today: date, policy: Policy) -> dict[str, Any]:
    """The enterprise's credit page and API body: the summary, the records, the changes and the cases, newest first."""
    records = histories(session, [enterprise_id])[enterprise_id]
    return {
        "enterprise_id": enterprise_id,
        **summary(records, today, policy),
        "records": [
            {"tier": r.tier.value, "regime": r.regime.value, "from": r.effective_from, "to": r.effective_to}
            for r in sorted(records, key=lambda r: r.effective_from, reverse=True)
        ],
        "changes": changes(session, enterprise_id),
        "cases": cases(session, enterprise_id),
    }


def changes(session: Session, enterprise_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CreditChangeRow, UserRow.display_name, UserRow.username)
        .outerjoin(UserRow, UserRow.id == CreditChangeRow.recorded_by)
        .where(CreditChangeRow.enterprise_id == enterprise_id)
        .order_by(CreditChangeRow.id.desc())
    )
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "from_tier": row.from_tier,
            "to_tier": row.to_tier,
            "regime": row.regime,
            "effective_from": row.effective_from,
            "ground": row.ground,
            "case_id": row.case_id,
            "reason": row.reason,
            "recorded_by": display or username or "",
            "recorded_at": row.recorded_at,
        }
        for row, display, username in rows
    ]


def cases(session: Session, enterprise_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ViolationCaseRow)
        .where(ViolationCaseRow.enterprise_id == enterprise_id)
        .order_by(ViolationCaseRow.decided_on.desc(), ViolationCaseRow.id.desc())
    )
    return [
        {"id": r.id, "case_no": r.case_no, "kind": r.kind, "decided_on": r.decided_on, "summary": r.summary}
        for r in rows
    ]


def enterprise_name(session: Session, enterprise_id: int) -> str:
    return str(session.scalar(select(EnterpriseRow.name).where(EnterpriseRow.id == enterprise_id)) or "")
