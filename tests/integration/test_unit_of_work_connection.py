"""A unit of work's session keeps one connection of its own (workflow/store/sessions.py, `own_connection`).

One checkout per unit of work, whatever it runs; the ORM's work and the plain statements in one transaction, committed
or rolled back together; the session's transaction events (which the worker's outbox completion listens to) fired
once per transaction, after the commit has really happened; the connection back in the pool however the unit ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from sqlalchemy import event, func, insert, select

from config.bootstrap import Container
from workflow.store.engine import READ_ONLY
from workflow.store.request_transaction import one_transaction
from workflow.store.tables import OutboxRow
from workflow.store.uow import SqlUnitOfWork

EVENTS = ("after_begin", "before_commit", "after_commit", "after_rollback")


def unit(container: Container) -> SqlUnitOfWork:
    return SqlUnitOfWork(container.sessions, container.deps.clock.now)


def orm_row(container: Container, task: str) -> OutboxRow:
    return OutboxRow(task=task, payload={}, created_at=container.deps.clock.now())


def plain_row(uow: SqlUnitOfWork, task: str, at: datetime) -> None:
    uow.session.connection().execute(insert(OutboxRow).values(task=task, payload={}, created_at=at))


def tasks(container: Container) -> list[str]:
    """What is committed, read on a connection of its own (no session: its events would be counted too)."""
    with container.engine.connect().execution_options(**{READ_ONLY: True}) as connection:  # SQLite: no write lock
        return sorted(connection.scalars(select(OutboxRow.task)))


@contextmanager
def checkouts(container: Container) -> Iterator[list[object]]:
    seen: list[object] = []
    listener = lambda *args: seen.append(args[0])  # noqa: E731 - the pool's checkout event, by driver connection
    event.listen(container.engine, "checkout", listener)
    try:
        yield seen
    finally:
        event.remove(container.engine, "checkout", listener)


def _noting(fired: list[str], name: str) -> Callable[..., None]:
    return lambda *_args: fired.append(name)


@contextmanager
def session_events(container: Container) -> Iterator[list[str]]:
    fired: list[str] = []
    listeners = {name: _noting(fired, name) for name in EVENTS}
    for name, listener in listeners.items():
        event.listen(container.sessions, name, listener)
    try:
        yield fired
    finally:
        for name, listener in listeners.items():
            event.remove(container.sessions, name, listener)


def in_pool(container: Container) -> int:
    return int(container.engine.pool.checkedout())  # type: ignore[attr-defined]


def test_plain_statements_and_the_orm_share_one_checkout_and_commit_together(container: Container) -> None:
    before = in_pool(container)
    with checkouts(container) as taken, session_events(container) as fired, unit(container) as uow:
        plain_row(uow, "plain", container.deps.clock.now())
        assert not uow.session.in_transaction(), "plain statements need none of the session's own bookkeeping"
        uow.session.add(orm_row(container, "orm"))
        uow.session.flush()
        assert uow.session.get_bind() is uow.session.connection(), "the ORM binds to the unit's own connection"
        assert uow.session.scalar(select(func.count()).select_from(OutboxRow)) == 2  # one transaction sees both
        uow.commit()
    assert len(taken) == 1
    assert fired.count("before_commit") == fired.count("after_commit") == 1 and "after_rollback" not in fired
    assert tasks(container) == ["orm", "plain"]
    assert in_pool(container) == before


def test_without_orm_work_the_session_events_fire_once_around_the_connections_commit(container: Container) -> None:
    committed_when_told: list[list[str]] = []

    def after_commit(_session: object) -> None:
        committed_when_told.append(tasks(container))  # read on another connection: the commit must be done

    event.listen(container.sessions, "after_commit", after_commit)
    try:
        with session_events(container) as fired, unit(container) as uow:
            plain_row(uow, "plain", container.deps.clock.now())
            uow.commit()
    finally:
        event.remove(container.sessions, "after_commit", after_commit)
    assert fired == ["after_begin", "before_commit", "after_commit"]
    assert committed_when_told == [["plain"]]


def test_a_session_transaction_begun_with_nothing_to_flush_still_commits_the_plain_writes(
    container: Container,
) -> None:
    """Adding begins the session's transaction without a connection; with the row taken out again, a flush has
    nothing to send, and the commit must still end the connection's transaction, not only the session's."""
    with unit(container) as uow:
        plain_row(uow, "plain", container.deps.clock.now())
        added = orm_row(container, "taken out again")
        uow.session.add(added)
        uow.session.expunge(added)
        assert uow.session.in_transaction()
        uow.commit()
    assert tasks(container) == ["plain"]


def test_an_object_changed_after_the_sessions_commit_is_saved_by_its_next(container: Container) -> None:
    """The session's own contract: a change to an object it kept begins its transaction, and its commit flushes it."""
    with unit(container) as uow:
        row = orm_row(container, "first")
        uow.session.add(row)
        uow.session.commit()
        assert not uow.session.in_transaction()
        row.task = "changed after the commit"
        uow.session.commit()
    assert tasks(container) == ["changed after the commit"]


def test_a_unit_that_fails_rolls_back_both_kinds_of_write_and_returns_its_connection(container: Container) -> None:
    before = in_pool(container)
    with pytest.raises(RuntimeError), session_events(container) as fired, unit(container) as uow:
        plain_row(uow, "plain", container.deps.clock.now())
        uow.session.add(orm_row(container, "orm"))
        uow.session.flush()
        raise RuntimeError("the handler refused")
    assert tasks(container) == []
    assert fired.count("after_rollback") == 1 and "after_commit" not in fired
    assert in_pool(container) == before


def test_a_plain_write_rolled_back_without_orm_work_tells_the_listeners(container: Container) -> None:
    with session_events(container) as fired, unit(container) as uow:
        plain_row(uow, "plain", container.deps.clock.now())
    assert fired == ["after_begin", "after_rollback"]
    assert tasks(container) == []


def test_a_unit_that_commits_twice_begins_again_on_its_connection(container: Container) -> None:
    with checkouts(container) as taken, unit(container) as uow:
        plain_row(uow, "first", container.deps.clock.now())
        uow.commit()
        plain_row(uow, "second", container.deps.clock.now())
        uow.rollback()
        plain_row(uow, "third", container.deps.clock.now())
        uow.commit()
    assert len(taken) == 1
    assert tasks(container) == ["first", "third"]


def test_inside_a_requests_transaction_a_unit_is_a_savepoint_of_it(container: Container) -> None:
    with pytest.raises(RuntimeError), one_transaction(container.engine):
        with unit(container) as uow:
            plain_row(uow, "inside", container.deps.clock.now())
            uow.commit()
        assert tasks(container) == [], "not committed before the request's transaction is"
        raise RuntimeError("the request fails after the unit committed its savepoint")
    assert tasks(container) == []
