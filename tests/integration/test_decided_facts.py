"""Decided facts are stored when decided (first-time R60, paperless R58), and the queue's urgency is the statutory
clock's own due date (R19–R22: pauses and the extension count), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock, pass_risk_assessment
from tests.integration.support import file_application, fx04_ecoli, fx10_cytokine
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.clock import StatutoryClock
from workflow.store import api_reads, ui_queries
from workflow.store.tables import ApplicationRow


def row(container: Container, application_id: int) -> ApplicationRow:
    with container.sessions() as session:
        found = session.get(ApplicationRow, application_id)
        assert found is not None
        session.expunge(found)
        return found


def submitted_and_screened(container: Container, cast: Cast, *lines: object) -> int:
    application_id = file_application(container, cast, tuple(lines) or None)  # type: ignore[arg-type]
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.ScreenApplication(cast.applicant, application_id))
    return application_id


def grant(container: Container, cast: Cast, application_id: int) -> None:
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    container.bus.handle(c.StartReview(cast.reviewer, application_id))
    container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))


def queue(container: Container, **where: object) -> set[int]:
    with container.sessions() as session:
        rows = ui_queries.review_queue(session, ui_queries.QueueFilter(**where), None, 100)  # type: ignore[arg-type]
    return {found["id"] for found in rows}


def test_r58_r60_screening_stores_first_time_and_paperless_and_the_paperless_filter_finds_them(
    container: Container, cast: Cast
) -> None:
    first = submitted_and_screened(container, cast, fx10_cytokine())
    assert (row(container, first).is_first_time, row(container, first).paperless) == (True, False)
    grant(container, cast, first)

    again = submitted_and_screened(container, cast, fx10_cytokine())

    assert (row(container, again).is_first_time, row(container, again).paperless) == (False, True)
    assert row(container, first).paperless is False  # the certificate's decision, stored on its application
    assert again in queue(container, paperless=True) and first not in queue(container, paperless=True)
    assert first in queue(container, paperless=False)


def test_r19_r21_the_stored_due_date_follows_the_clock_through_a_pause(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    application_id = submitted_and_screened(container, cast, fx04_ecoli())
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    accepted = StatutoryClock(accepted_on=clock.today_value)
    assert row(container, application_id).decision_due_on == accepted.due_date(container.deps.calendar)
    container.bus.handle(c.StartReview(cast.reviewer, application_id))

    clock.today_value = date(2016, 6, 6)
    pass_risk_assessment(container, cast.reviewer, application_id)

    resumed = StatutoryClock.from_dict(row(container, application_id).clock or {})
    assert resumed.pauses and resumed.pauses[0][1] == date(2016, 6, 6)
    later = row(container, application_id).decision_due_on
    assert later == resumed.due_date(container.deps.calendar)
    assert later is not None and later > (accepted.due_date(container.deps.calendar) or date.min)


def test_r19_r20_the_urgency_filters_read_the_clock_with_its_extension(
    container: Container, cast: Cast, clock: FixedClock
) -> None:
    application_id = submitted_and_screened(container, cast, fx10_cytokine())
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    container.bus.handle(c.StartReview(cast.reviewer, application_id))
    due = row(container, application_id).decision_due_on
    assert due is not None
    day_after = date.fromordinal(due.toordinal() + 1)

    assert application_id in queue(container, due_until=date.fromordinal(day_after.toordinal() - 1))
    container.bus.handle(c.ExtendDeadline(cast.head, application_id, "实验室检测需要更多时间 the lab needs more time"))

    extended = row(container, application_id).decision_due_on
    assert extended is not None and container.deps.calendar.working_days_between(due, extended) == 10
    assert application_id not in queue(container, due_until=due)
    assert application_id in queue(container, due_from=day_after, due_until=extended)


def test_r19_the_clock_sweep_fills_a_due_date_the_row_lacks(container: Container, cast: Cast) -> None:
    application_id = submitted_and_screened(container, cast, fx10_cytokine())
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))
    due = row(container, application_id).decision_due_on
    with container.sessions() as session, session.begin():  # a row accepted before the column existed
        session.execute(update(ApplicationRow).where(ApplicationRow.id == application_id).values(decision_due_on=None))

    container.bus.handle(c.SweepClocks(SYSTEM_ACTOR))

    with container.sessions() as session:
        assert session.scalar(select(ApplicationRow.decision_due_on).where(ApplicationRow.id == application_id)) == due


def test_a_submission_accepted_before_its_screening_ran_is_still_screened_once(
    container: Container, cast: Cast
) -> None:
    application_id = file_application(container, cast, (fx10_cytokine(),))
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    container.bus.handle(c.AcceptApplication(cast.acceptor, application_id))  # the officer was quicker than the task

    assert container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id)) is True
    assert container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id)) is False  # re-delivered: nothing

    found = row(container, application_id)
    assert found.state == "accepted" and found.screening is not None and found.is_first_time is True
    with container.sessions() as session:
        trail = [event["trigger"] for event in api_reads.audit_trail(session, "application", application_id)]
    assert trail.count("screen") == 1


def test_a_screening_landing_after_the_decision_leaves_the_closed_file_alone(container: Container, cast: Cast) -> None:
    first = submitted_and_screened(container, cast, fx10_cytokine())
    grant(container, cast, first)
    again = file_application(container, cast, (fx10_cytokine(),))
    container.bus.handle(c.SubmitApplication(cast.applicant, again))
    grant(container, cast, again)
    decided = row(container, again)

    assert container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, again)) is False

    after = row(container, again)
    assert (after.screening, after.version, after.paperless) == (None, decided.version, True)
