"""A step's notices ride its commit's one statement on PostgreSQL (workflow/store/together.py, `Fanned`).

The enterprise's users told of a decision, with their e-mail copies' outbox rows, and the officers told of new work
in their queue (inbox-only, keyed) are found and written by the statement that commits the step, not by statements
of their own. The rows are the ones the per-statement path writes (it stays for SQLite, and is forced here to
compare): the same recipients, kinds, params, times, keys and e-mail status, one outbox row per e-mail copy naming
its notification, published by the relay with the ids it was written with; a key already taken is left alone; a
rolled-back step tells nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock, _empty_tables, make_cast
from tests.integration.support import file_application, fx10_cytokine
from tests.integration.test_officer_notifications import officer
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR, Role
from workflow.store.directory import create_user
from workflow.store.notifications import SqlNotifications
from workflow.store.outbox import OutboxRelay
from workflow.store.outbox_completion import SentRow
from workflow.store.tables import NotificationRow, OutboxRow

# The notices' statements each step sent of its own before they rode its commit: the acceptors' (screen), the
# reviewers' and the applicant's (accept), the deciders' (start_review), the applicant's (grant).
SAVED = {"submit": 0, "screen": 1, "accept": 2, "start_review": 1, "grant": 1}
NOTIFICATION_COLUMNS = (
    "user_id", "kind", "params", "created_at", "read_at", "email_status", "email_attempts", "email_error", "emailed_at",
    "dedup_key",
)  # fmt: skip
# Every time of both runs, so that their rows compare equal (microseconds: the JSON round trip keeps them).
STAMP = datetime(2016, 6, 1, 2, 3, 4, 567891)
OUTBOX_COLUMNS = ("task", "created_at", "published_at", "attempts", "last_error", "deliveries", "redeliver_at")


@contextmanager
def sent_statements(container: Container) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    event.listen(container.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(container.engine, "before_cursor_execute", note)


def commands(cast: Cast, application_id: int) -> Iterator[tuple[str, c.Command]]:
    yield "submit", c.SubmitApplication(cast.applicant, application_id)
    yield "screen", c.ScreenApplication(SYSTEM_ACTOR, application_id)
    yield "accept", c.AcceptApplication(cast.acceptor, application_id)
    yield "start_review", c.StartReview(cast.reviewer, application_id)
    yield "grant", c.GrantApplication(cast.decider, application_id, "granted")


def colleague(container: Container, cast: Cast, username: str, active: bool = True) -> int:
    """Another user of the applicant's enterprise."""
    with container.sessions() as session, session.begin():
        user = create_user(
            session, username=username, role=Role.APPLICANT, password_hash="", now=container.deps.clock.now(),
            enterprise_id=cast.enterprise_id,
        )  # fmt: skip
        user.active = active
        return user.id


def the_flow(container: Container) -> dict[str, list[str]]:
    """A fresh enterprise (two active users, one retired) and officers, through the flow: the statements per step."""
    cast = make_cast(container)
    colleague(container, cast, "applicant.two")
    colleague(container, cast, "applicant.retired", active=False)
    officer(container, Role.REVIEWER, "xiamen.reviewer2")
    officer(container, Role.DECIDER, "xiamen.decider.retired", active=False)
    application_id = file_application(container, cast, (fx10_cytokine(),))
    sent = {}
    for step, command in commands(cast, application_id):
        with sent_statements(container) as seen:
            container.bus.handle(command)
        sent[step] = seen
    return sent


def written(container: Container) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[int, dict[str, Any]]]:
    """The notifications, and each e-mail copy with the notification it names, by content (ids aside); the copies."""
    with container.sessions() as session:
        notices = {row.id: tuple(getattr(row, name) for name in NOTIFICATION_COLUMNS) for row in session.scalars(
            select(NotificationRow))}  # fmt: skip
        copies = {row.id: row for row in session.scalars(select(OutboxRow).where(OutboxRow.task == "send_email"))}
        named = [
            (*(getattr(row, name) for name in OUTBOX_COLUMNS), notices[row.payload["notification_id"]],
             {key: value for key, value in row.payload.items() if key != "notification_id"})
            for row in copies.values()
        ]  # fmt: skip
        return (
            sorted(notices.values(), key=repr),
            sorted(named, key=repr),
            {i: dict(r.payload) for i, r in copies.items()},
        )


@pytest.fixture
def relayed(monkeypatch: pytest.MonkeyPatch) -> list[SentRow]:
    """The rows the relay is handed after each commit (not published: no broker here)."""
    handed: list[SentRow] = []

    def publish_sent(_relay: OutboxRelay, rows: list[SentRow]) -> int:
        handed.extend(rows)
        return len(rows)

    monkeypatch.setattr(OutboxRelay, "publish_sent", publish_sent)
    return handed


def test_the_flow_writes_the_same_notices_and_copies_with_five_statements_fewer(
    make_container: Callable[..., Container], postgres_url: str, relayed: list[SentRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    _empty_tables(postgres_url)
    monkeypatch.setattr(FixedClock, "now", lambda _clock: STAMP)
    container = make_container(postgres_url, relay_after_commit=True)
    with monkeypatch.context() as apart:
        apart.setattr(SqlNotifications, "_at_commit", lambda _self: False)  # the per-statement path
        apart_sent = the_flow(container)
    before = written(container)
    relayed.clear()
    _empty_tables(postgres_url)

    sent = the_flow(container)

    after = written(container)
    assert after[:2] == before[:2]  # same recipients, kinds, params, times, keys, status; a copy per e-mailed one
    assert len(after[1]) == 4  # two active users of the enterprise, told of the acceptance and of the grant
    assert {step: len(apart_sent[step]) - len(sent[step]) for step in sent} == SAVED
    assert not [statement for seen in sent.values() for statement in seen if statement.startswith("INSERT INTO notif")]
    emailed = {row.id: row.payload for row in relayed if row.task == "send_email"}
    assert emailed == after[2]  # the relay publishes each copy under the id it was written with, naming its notice


def test_the_officers_notices_are_keyed_and_a_key_taken_is_left_alone(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    more = officer(container, Role.REVIEWER, "xiamen.reviewer2")
    key = "work_to_review:application:9:v3:accept"
    with container.deps.uow() as uow:
        uow.notifications.add_inbox_only_to_role(
            "xiamen", Role.REVIEWER.value, "work_to_review", {"reference": "R1"}, key, "first"
        )
        uow.commit()
    with container.deps.uow() as uow, sent_statements(container) as seen:
        uow.notifications.add_inbox_only_to_role_at_commit(
            "xiamen", Role.REVIEWER.value, "work_to_review", {"reference": "R2"}, key, "again"
        )
        uow.notifications.add_inbox_only_to_role_at_commit(
            "xiamen", Role.REVIEWER.value, "work_to_review", {"reference": "R3"}, f"{key}:next", "next"
        )
        uow.commit()
    assert len(seen) == 1  # the commit's statement, with nothing else to write, carries them all
    with container.sessions() as session:
        rows = session.execute(select(NotificationRow.dedup_key, NotificationRow.params, NotificationRow.email_error))
        found = {dedup_key: (params["reference"], why) for dedup_key, params, why in rows}
    reviewers = (cast.reviewer.user_id, more)
    assert found == {f"{key}:{user}": ("R1", "first") for user in reviewers} | {
        f"{key}:next:{user}": ("R3", "next") for user in reviewers
    }


def test_a_rolled_back_step_tells_nobody(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    with container.deps.uow() as uow:
        uow.notifications.add_for_enterprise(cast.enterprise_id, "lab_verified", {"lab": "L1"}, "send_email")
        uow.notifications.add_inbox_only_to_role_at_commit(
            "xiamen", Role.ACCEPTOR.value, "work_to_accept", {"reference": "R1"}, "k", "why"
        )
        uow.rollback()
        uow.commit()  # the next transaction of the same unit of work writes nothing asked before the rollback
    with container.sessions() as session:
        assert session.scalars(select(NotificationRow)).all() == []
        assert session.scalars(select(OutboxRow)).all() == []


def test_a_batch_of_notices_goes_in_a_statement_of_its_own(pg_container: Container) -> None:
    """More asks than ride together: the other rows go their own way, the notices in one statement for them all."""
    container, cast = pg_container, make_cast(pg_container)
    with container.deps.uow() as uow, sent_statements(container) as seen:
        for number in range(70):
            uow.notifications.add_for_enterprise(
                cast.enterprise_id, "lab_verified", {"lab": f"L{number}"}, "send_email"
            )
        uow.commit()
    assert len(seen) == 1
    with container.sessions() as session:
        notices = {row.id: row.params["lab"] for row in session.scalars(select(NotificationRow))}
        copies = [row.payload["notification_id"] for row in session.scalars(select(OutboxRow).order_by(OutboxRow.id))]
    assert sorted(notices.values()) == sorted(f"L{number}" for number in range(70))
    assert copies == sorted(notices)  # one copy each, in the notices' order
    assert [notices[notice] for notice in sorted(notices)] == [f"L{number}" for number in range(70)]  # ask order
