"""What one screening costs the worker, counted (never timed): one task, one transaction, a bounded number of
statements (docs/performance.md "Pipeline", issue #15).

The screening tells the district's acceptors in its own transaction (no `notify_officers` task per submission), the
queue notice has no e-mail copy (no `send_email` task per acceptor), goods without a pathogen read no laboratory,
and the task marks its outbox row complete in the same transaction, so a worker dying after the commit leaves
nothing to send again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from config.bootstrap import Container
from tasks.app import create_celery_app
from tests.conftest import make_cast
from tests.integration.support import file_application
from tests.integration.test_declaration_statements import statements
from tests.integration.test_officer_notifications import officer
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Role
from workflow.store.outbox_completion import Outcome, message_id
from workflow.store.tables import NotificationRow, OutboxRow

# The screening of a submission of goods without a pathogen, by an enterprise with no grant yet, one acceptor:
# the application; its enterprise's credit, granted products (and whether any), natural person, the documents and
# the certificate it replaces in one read (workflow/store/step_reads.py); the guarded UPDATE with the audit event,
# the outbox row's completion and the acceptors' notices (inbox-only: an INSERT … SELECT finds and tells them all),
# in one statement (workflow/store/together.py).
SCREENING_STATEMENTS = 3


@contextmanager
def commits(container: Container) -> Iterator[list[object]]:
    seen: list[object] = []

    def note(connection: object) -> None:
        seen.append(connection)

    event.listen(container.engine, "commit", note)
    try:
        yield seen
    finally:
        event.remove(container.engine, "commit", note)


def submitted_row(container: Container, cast_applicant: object, application_id: int) -> int:
    """The submit's one outbox row: the screening (nothing else is asked for per submission)."""
    container.bus.handle(c.SubmitApplication(cast_applicant, application_id))  # type: ignore[arg-type]
    with container.sessions() as session:
        rows = session.execute(select(OutboxRow.id, OutboxRow.task)).all()
    assert [task for _, task in rows] == ["screen_application"]
    return rows[0][0]


def screen_as_the_worker(container: Container, task: Any, row_id: int, application_id: int) -> tuple[list[str], int]:
    """The task as the worker runs it (Celery's trace with its signals), under the outbox row's task id."""
    with statements(container) as seen, commits(container) as committed:
        result = task.apply(kwargs={"application_id": application_id}, task_id=message_id(row_id))
    assert result.successful() and result.result == {"ok": True, "result": True}
    return seen, len(committed)


def test_a_screening_is_one_transaction_of_a_bounded_number_of_statements(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    application_id = file_application(container, cast)
    row_id = submitted_row(container, cast.applicant, application_id)

    task = create_celery_app(container).tasks["specgoods.screen_application"]
    seen, committed = screen_as_the_worker(container, task, row_id, application_id)

    assert len(seen) == SCREENING_STATEMENTS, seen
    assert committed == 1  # the effect and the outbox row's completion together
    assert "SELECT laboratories" not in seen  # R14: no pathogen, no lab to read
    assert "UPDATE outbox" in seen[-1]  # completed in the screening's last statement, not in one of its own
    with container.sessions() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None and row.outcome == Outcome.DONE and row.completed_at is not None
        assert session.scalars(select(OutboxRow.task).where(OutboxRow.id != row_id)).all() == []  # no more tasks
        [status] = session.scalars(select(NotificationRow.email_status).where(NotificationRow.kind == "work_to_accept"))
        assert status == "skipped"


def test_more_acceptors_cost_no_more_statements_and_a_redelivery_writes_nothing(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    for n in range(2, 4):
        officer(container, Role.ACCEPTOR, f"xiamen.acceptor{n}")
    application_id = file_application(container, cast)
    row_id = submitted_row(container, cast.applicant, application_id)

    task = create_celery_app(container).tasks["specgoods.screen_application"]
    seen, _ = screen_as_the_worker(container, task, row_id, application_id)
    assert len(seen) == SCREENING_STATEMENTS, "\n".join(seen)
    with container.sessions() as session:
        told = session.scalars(select(NotificationRow.email_status).where(NotificationRow.kind == "work_to_accept"))
        assert list(told) == ["skipped"] * 3  # each of the three acceptors, in the one INSERT

    with statements(container) as again:
        redelivered = task.apply(kwargs={"application_id": application_id}, task_id=message_id(row_id))
    assert redelivered.result == {"ok": True, "result": False}  # already screened: nothing new
    assert [shape for shape in again if shape.startswith(("INSERT", "UPDATE applications"))] == []
    with container.sessions() as session:
        assert len(session.scalars(select(NotificationRow.id)).all()) == 3


def test_a_screening_with_nothing_to_do_still_completes_its_row_after_the_task(pg_container: Container) -> None:
    """No transaction of the screening commits, so the row is completed from `task_postrun`, as for any task."""
    container, cast = pg_container, make_cast(pg_container)
    application_id = file_application(container, cast)
    row_id = submitted_row(container, cast.applicant, application_id)
    container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))  # screened before its message ran

    task = create_celery_app(container).tasks["specgoods.screen_application"]
    with statements(container) as seen, commits(container) as committed:
        result = task.apply(kwargs={"application_id": application_id}, task_id=message_id(row_id))
    assert result.result == {"ok": True, "result": False}
    assert len(committed) == 1 and seen.count("UPDATE outbox") == 1  # the completion's own transaction only
    with container.sessions() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None and row.outcome == Outcome.DONE
