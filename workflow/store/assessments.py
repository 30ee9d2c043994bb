"""Risk assessments, panel seats, clock alerts and the sweeps' queries behind the asynchronous review steps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.domain.actors import Role
from workflow.domain.assessment import Assessment, Opinion, Seat
from workflow.domain.errors import NotFound
from workflow.domain.guards import AssessmentOutcome, AssessmentStanding
from workflow.domain.lifecycle import AppState
from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope
from workflow.domain.policy import PanelConclusion
from workflow.store.repositories import in_scope, skip_locked
from workflow.store.tables import (
    ApplicationRow,
    ClockAlertRow,
    ExpertConflictRow,
    PanelSeatRow,
    RiskAssessmentRow,
    UserRow,
)

Now = Callable[[], datetime]
CLOCKED_STATES = (AppState.ACCEPTED.value, AppState.UNDER_REVIEW.value)
_ASSESSMENT = RiskAssessmentRow
# What every grant's guards read: built once, each call a compiled-cache hit.
_STANDING = (
    select(_ASSESSMENT.id, _ASSESSMENT.state, _ASSESSMENT.outcome, _ASSESSMENT.overridden_by)
    .where(_ASSESSMENT.application_id == bindparam("application_id"))
    .order_by(_ASSESSMENT.id.desc())
    .limit(1)
)


class SqlAssessments:
    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now

    def _execute(self, statement: Any, parameters: Any = None) -> Any:
        return self.session.connection().execute(statement, parameters)

    def eligible_experts(self, district: str, enterprise_id: int) -> list[int]:
        """R61: the district's active experts, minus anyone tied to the applicant's enterprise."""
        conflicted = select(ExpertConflictRow.expert_id).where(ExpertConflictRow.enterprise_id == enterprise_id)
        query = (
            select(UserRow.id)
            .where(
                UserRow.role == Role.EXPERT.value,
                UserRow.active.is_(True),
                UserRow.district == district,
                UserRow.enterprise_id.is_(None),
                UserRow.id.not_in(conflicted),
            )
            .order_by(UserRow.id)
        )
        return list(self._execute(query).scalars())

    def users_with_role(self, district: str, role: Role) -> list[int]:
        query = select(UserRow.id).where(
            UserRow.role == role.value, UserRow.district == district, UserRow.active.is_(True)
        )
        return list(self._execute(query).scalars())

    def reusable(self, enterprise_id: int, product_key: str, today: date) -> int | None:
        """R63: an entity-level assessment that passed and is still within its reuse period."""
        row = RiskAssessmentRow
        query = (
            select(row.id)
            .where(
                row.enterprise_id == enterprise_id,
                row.product_key == product_key,
                row.state == "concluded",
                row.outcome == Opinion.PASS.value,
                row.reuse_until >= today,
                row.reused_from_id.is_(None),
            )
            .order_by(row.concluded_on.desc())
            .limit(1)
        )
        found = self._execute(query).scalar()
        return None if found is None else int(found)

    def create(self, **values: Any) -> int:
        return int(
            self._execute(insert(RiskAssessmentRow).values(**values).returning(RiskAssessmentRow.id)).scalar_one()
        )

    def add_seats(self, assessment_id: int, expert_ids: list[int], due_on: date) -> None:
        if expert_ids:
            self._execute(
                insert(PanelSeatRow),
                [{"assessment_id": assessment_id, "expert_id": expert, "due_on": due_on} for expert in expert_ids],
            )

    def open_for(self, application_id: int) -> Assessment | None:
        row = self._execute(
            select(RiskAssessmentRow.id).where(
                RiskAssessmentRow.application_id == application_id, RiskAssessmentRow.state == "open"
            )
        ).scalar()
        return None if row is None else self.get(row)

    def cancel_open(self, application_id: int, on: date) -> None:
        """The file was withdrawn: its open assessment ends with no outcome, so the panel is released."""
        self._execute(
            update(RiskAssessmentRow)
            .where(RiskAssessmentRow.application_id == application_id, RiskAssessmentRow.state == "open")
            .values(state="cancelled", concluded_on=on, version=RiskAssessmentRow.version + 1)
        )

    def standing(self, application_id: int) -> AssessmentStanding | None:
        """The application's latest risk assessment, as the grant guards read it (R32, A8)."""
        row = self._execute(_STANDING, {"application_id": application_id}).first()
        return None if row is None else standing_of(row.id, row.state, row.outcome, row.overridden_by is not None)

    def override(self, assessment_id: int, by: int | None, reason: str, on: date) -> bool:
        """A8: once only, and only a concluded rejection; of two heads acting together one wins."""
        result = self._execute(
            update(RiskAssessmentRow)
            .where(
                RiskAssessmentRow.id == assessment_id,
                RiskAssessmentRow.outcome == Opinion.REJECT.value,
                RiskAssessmentRow.overridden_by.is_(None),
            )
            .values(overridden_by=by, override_reason=reason, overridden_on=on, version=RiskAssessmentRow.version + 1)
        )
        return bool(result.rowcount == 1)

    def get(self, assessment_id: int) -> Assessment:
        row = self._execute(select(RiskAssessmentRow).where(RiskAssessmentRow.id == assessment_id)).first()
        if row is None:
            raise NotFound(f"no risk assessment {assessment_id}", field="assessment_id")
        seats = self._execute(
            select(PanelSeatRow).where(PanelSeatRow.assessment_id == assessment_id).order_by(PanelSeatRow.id)
        )
        return Assessment(
            id=row.id,
            application_id=row.application_id,
            assessor_level=row.assessor_level,
            state=row.state,
            quorum=row.quorum,
            conclusion_rule=PanelConclusion(row.conclusion_rule),
            due_on=row.due_on,
            seats=tuple(
                Seat(seat.id, seat.expert_id, Opinion(seat.opinion) if seat.opinion else None, seat.due_on)
                for seat in seats
            ),
        )

    def record_opinion(self, seat_id: int, opinion: Opinion, reason: str) -> bool:
        """An expert's opinion is given once; a second submission for the same seat changes nothing."""
        result = self._execute(
            update(PanelSeatRow)
            .where(PanelSeatRow.id == seat_id, PanelSeatRow.opinion.is_(None))
            .values(opinion=opinion.value, reason=reason, submitted_at=self.now())
        )
        return bool(result.rowcount == 1)

    def conclude(self, assessment_id: int, outcome: Opinion, on: date, reuse_until: date | None) -> bool:
        """Of two opinions arriving together, exactly one concludes the assessment."""
        result = self._execute(
            update(RiskAssessmentRow)
            .where(RiskAssessmentRow.id == assessment_id, RiskAssessmentRow.state == "open")
            .values(
                state="concluded",
                outcome=outcome.value,
                concluded_on=on,
                reuse_until=reuse_until,
                version=RiskAssessmentRow.version + 1,
            )
        )
        return bool(result.rowcount == 1)

    def seats_to_remind(
        self, due_by: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 500
    ) -> list[tuple[int, int, int, date]]:
        """Awaited opinions due by `due_by` and not yet reminded: (seat, expert, application, due date)."""
        seat, assessment = PanelSeatRow, RiskAssessmentRow
        query = (
            select(seat.id, seat.expert_id, assessment.application_id, seat.due_on)
            .join(assessment, assessment.id == seat.assessment_id)
            .where(
                assessment.state == "open",
                seat.opinion.is_(None),
                seat.reminded_at.is_(None),
                seat.due_on <= due_by,
            )
            .limit(limit)
        )
        if scope != EVERY_DISTRICT:  # the district is the application's: joined only when a scope narrows it
            query = query.join(ApplicationRow, ApplicationRow.id == assessment.application_id).where(
                in_scope(ApplicationRow.district, scope)
            )
        return [tuple(row) for row in self._execute(skip_locked(self.session, query, of=seat))]

    def mark_reminded(self, seat_id: int) -> None:
        self._execute(update(PanelSeatRow).where(PanelSeatRow.id == seat_id).values(reminded_at=self.now()))

    def running_clocks(self, limit: int = 1000) -> list[Any]:
        """Applications whose statutory clock runs (accepted or under review; paused ones are in assessment)."""
        app = ApplicationRow
        query = (
            select(
                app.id, app.reference, app.district, app.clock, app.reviewer_id, app.acceptor_id, app.decision_due_on
            )
            .where(app.state.in_(CLOCKED_STATES), app.clock.is_not(None))
            .order_by(app.id)
            .limit(limit)
        )
        return list(self._execute(query))

    def store_due_on(self, application_id: int, due_on: date | None) -> None:
        """The sweep brings a stored due date up to the clock's (rows accepted before the column existed)."""
        self._execute(update(ApplicationRow).where(ApplicationRow.id == application_id).values(decision_due_on=due_on))

    def awaiting_acceptance(self, limit: int = 1000) -> list[Any]:
        """R17: submitted applications with no correction notice, oldest first."""
        app = ApplicationRow
        query = (
            select(app.id, app.received_on)
            .where(app.state == AppState.SUBMITTED.value, app.correction_notices == 0, app.received_on.is_not(None))
            .order_by(app.received_on)
            .limit(limit)
        )
        return list(self._execute(query))

    def raise_clock_alert(self, application_id: int, kind: str) -> bool:
        """At most one alert of each kind per application, even when two sweeps overlap."""
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(ClockAlertRow)
            .values(application_id=application_id, kind=kind, raised_at=self.now())
            .on_conflict_do_nothing(index_elements=["application_id", "kind"])
            .returning(ClockAlertRow.id)
        )
        # RETURNING rather than rowcount: the driver's rowcount is not reliable for a skipped conflicting insert.
        return self._execute(statement).first() is not None

    def add_conflict(self, expert_id: int, enterprise_id: int, reason: str) -> None:
        self._execute(insert(ExpertConflictRow).values(expert_id=expert_id, enterprise_id=enterprise_id, reason=reason))


def standing_of(assessment_id: int, state: str, outcome: str | None, overridden: bool) -> AssessmentStanding | None:
    """The latest assessment's row as the grant guards read it; a withdrawn file's (cancelled) concluded nothing."""
    if state == "cancelled":
        return None
    found = AssessmentOutcome.OPEN if state == "open" else AssessmentOutcome(str(outcome))
    return AssessmentStanding(assessment_id, found, overridden=overridden)
