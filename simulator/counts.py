"""Counts one simulated profile from its scratch database: what the bus wrote, not what the runner meant to do.

Only the simulated year counts: applications received from its first day (the warm-up grants of the autumn before
are left out), the declarations and assessments of those applications, and the audit events of the year.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from config.bootstrap import Container
from workflow.domain.actors import Role
from workflow.domain.calendar import WorkingCalendar
from workflow.simulation.report import (
    AssessmentFigures,
    CreditChangeFigures,
    InspectionFigures,
    ProfileReport,
    percentile,
)
from workflow.simulation.workload import Shipment, Workload
from workflow.store.tables import (
    ApplicationLineRow,
    ApplicationRow,
    AuditEventRow,
    CertificateRow,
    CreditChangeRow,
    DeclarationRow,
    PanelSeatRow,
    RiskAssessmentRow,
)


def count_profile(
    container: Container,
    workload: Workload,
    tiers: Mapping[int, str],
    shipments: Sequence[Shipment],
    failures: tuple[str, ...],
) -> ProfileReport:
    start = date(workload.year, 1, 1)
    policy = container.deps.policies.policy_for(workload.district, start)
    with container.sessions() as session:
        applications = _applications(session, start)
        declarations = _declarations(session, start)
        return ProfileReport(
            profile=policy.id,
            shipments=len(shipments),
            applications=len(applications),
            paperless=sum(1 for _, paperless, _, _ in applications if paperless),
            first_time=sum(1 for _, _, first, _ in applications if first),
            certificates=_certificates(session, start),
            write_offs=sum(1 for row in declarations if row.released_on is not None),
            clearance_days=_clearance(applications, declarations, container.deps.calendar),
            release_days=_release(shipments, declarations, container.deps.calendar),
            assessments=_assessments(session, start, container.deps.calendar),
            inspections=_inspections(declarations, tiers),
            actions_by_role=_actions(session, start),
            failures=failures,
            lab_corrections=_lab_corrections(session, start),
            pathogen_applications=_pathogen_applications(session, start),
            credit_changes=_credit_changes(session, start, declarations),
        )


def _applications(session: Session, start: date) -> list[tuple[int, bool, bool, date]]:
    rows = session.execute(
        select(ApplicationRow.id, ApplicationRow.paperless, ApplicationRow.is_first_time, ApplicationRow.received_on)
        .where(ApplicationRow.received_on >= start)
        .order_by(ApplicationRow.id)
    )
    return [(row[0], bool(row[1]), bool(row[2]), row[3] or start) for row in rows]


def _declarations(session: Session, start: date) -> list[Row[Any]]:
    return list(
        session.execute(
            select(
                CertificateRow.application_id,
                CertificateRow.grade,
                DeclarationRow.enterprise_id,
                DeclarationRow.released_on,
                DeclarationRow.route,
                DeclarationRow.declaration_no,
                DeclarationRow.declared_on,
            )
            .join(CertificateRow, CertificateRow.id == DeclarationRow.certificate_id)
            .join(ApplicationRow, ApplicationRow.id == CertificateRow.application_id)
            .where(ApplicationRow.received_on >= start)
        )
    )


def _certificates(session: Session, start: date) -> int:
    query = (
        select(func.count())
        .select_from(CertificateRow)
        .join(ApplicationRow, ApplicationRow.id == CertificateRow.application_id)
        .where(ApplicationRow.received_on >= start)
    )
    return int(session.scalar(query) or 0)


def _clearance(
    applications: list[tuple[int, bool, bool, date]], declarations: list[Row[Any]], calendar: WorkingCalendar
) -> tuple[int, ...]:
    """Per application whose certificate cleared goods: working days from its receipt to the first release."""
    first: dict[int, date] = {}
    for row in declarations:
        if row.released_on is not None and (
            row.application_id not in first or row.released_on < first[row.application_id]
        ):
            first[row.application_id] = row.released_on
    received = {application_id: on for application_id, _, _, on in applications}
    return tuple(
        calendar.working_days_between(received[application_id], released)
        for application_id, released in sorted(first.items())
    )


def _release(shipments: Sequence[Shipment], declarations: list[Row[Any]], calendar: WorkingCalendar) -> tuple[int, ...]:
    """Per shipment released: working days from its arrival to its release, a wait for a grant included."""
    arrived = {shipment.number: shipment.day for shipment in shipments}
    days = []
    for row in declarations:
        number = Shipment.number_of(row.declaration_no)
        if row.released_on is not None and number in arrived:
            days.append(calendar.working_days_between(arrived[number], row.released_on))
    return tuple(sorted(days))


def _assessments(session: Session, start: date, calendar: WorkingCalendar) -> tuple[AssessmentFigures, ...]:
    rows = session.execute(
        select(
            RiskAssessmentRow.assessor_level,
            RiskAssessmentRow.reused_from_id,
            RiskAssessmentRow.started_on,
            RiskAssessmentRow.concluded_on,
        )
        .join(ApplicationRow, ApplicationRow.id == RiskAssessmentRow.application_id)
        .where(ApplicationRow.received_on >= start)
    )
    by_level: dict[str, list[tuple[bool, int | None]]] = defaultdict(list)
    for level, reused_from, started, concluded in rows:
        lead = calendar.working_days_between(started, concluded) if concluded is not None else None
        by_level[level].append((reused_from is not None, lead))
    return tuple(_assessment_figures(level, found) for level, found in sorted(by_level.items()))


def _assessment_figures(level: str, found: list[tuple[bool, int | None]]) -> AssessmentFigures:
    leads = [lead for reused, lead in found if not reused and lead is not None]
    reused = sum(1 for was_reused, _ in found if was_reused)
    return AssessmentFigures(level, len(found), reused, percentile(leads, 0.5), percentile(leads, 0.95))


def _inspections(declarations: list[Row[Any]], tiers: Mapping[int, str]) -> tuple[InspectionFigures, ...]:
    """By grade and the tier the route used: the one in force on the declaration's date (R73, E3)."""
    declared: Counter[tuple[str, str]] = Counter()
    inspected: Counter[tuple[str, str]] = Counter()
    for row in declarations:
        key = (row.grade, (row.route or {}).get("credit_tier") or tiers.get(row.enterprise_id, "?"))
        declared[key] += 1
        inspected[key] += bool((row.route or {}).get("inspected"))
    return tuple(
        InspectionFigures(grade, tier, declared[grade, tier], inspected[grade, tier])
        for grade, tier in sorted(declared)
    )


def _actions(session: Session, start: date) -> dict[str, int]:
    """Audit events of the year by the role that acted, and the experts' opinions (kept on their panel seats)."""
    since = datetime.combine(start, datetime.min.time())
    rows = session.execute(
        select(AuditEventRow.actor_role, func.count())
        .where(AuditEventRow.at >= since)
        .group_by(AuditEventRow.actor_role)
        .order_by(AuditEventRow.actor_role)
    )
    actions = {role: int(count) for role, count in rows}
    opinions = session.scalar(select(func.count()).select_from(PanelSeatRow).where(PanelSeatRow.submitted_at >= since))
    if opinions:
        actions[Role.EXPERT.value] = actions.get(Role.EXPERT.value, 0) + int(opinions)
    return dict(sorted(actions.items()))


# The sentence of R62's deficiency (workflow/domain/biosafety.py) as the correction notice's audit reason carries it.
LEVEL_TOO_LOW = "is below BSL-"


def _lab_corrections(session: Session, start: date) -> int:
    """Correction notices of the year that name a lab below the goods' level (R62 within R17's one notice)."""
    since = datetime.combine(start, datetime.min.time())
    query = (
        select(func.count())
        .select_from(AuditEventRow)
        .where(AuditEventRow.trigger == "request_correction", AuditEventRow.at >= since)
        .where(AuditEventRow.reason.contains(LEVEL_TOO_LOW))
    )
    return int(session.scalar(query) or 0)


def _pathogen_applications(session: Session, start: date) -> int:
    """Applications of the year with a goods line naming a user lab (R14)."""
    rows = session.execute(
        select(ApplicationLineRow.application_id, ApplicationLineRow.facts)
        .join(ApplicationRow, ApplicationRow.id == ApplicationLineRow.application_id)
        .where(ApplicationRow.received_on >= start)
    )
    return len({application_id for application_id, facts in rows if (facts or {}).get("lab_id") is not None})


def _credit_changes(session: Session, start: date, declarations: list[Row[Any]]) -> tuple[CreditChangeFigures, ...]:
    """Changes effective in the year by kind and tiers, with the changed enterprises' declarations either side."""
    changes = session.execute(
        select(CreditChangeRow.enterprise_id, CreditChangeRow.kind, CreditChangeRow.from_tier,
               CreditChangeRow.to_tier, CreditChangeRow.effective_from)
        .where(CreditChangeRow.effective_from >= start)
        .order_by(CreditChangeRow.effective_from, CreditChangeRow.id)
    )  # fmt: skip
    by_enterprise: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in declarations:
        by_enterprise[row.enterprise_id].append(row)
    figures: dict[tuple[str, str, str], list[int]] = {}
    for enterprise_id, kind, from_tier, to_tier, effective in changes:
        tally = figures.setdefault((kind, from_tier, to_tier), [0, 0, 0, 0, 0])
        tally[0] += 1
        for row in by_enterprise[enterprise_id]:
            inspected = int(bool((row.route or {}).get("inspected")))
            side = 3 if row.declared_on >= effective else 1
            tally[side] += 1
            tally[side + 1] += inspected
    return tuple(CreditChangeFigures(*key, *tally) for key, tally in sorted(figures.items()))
