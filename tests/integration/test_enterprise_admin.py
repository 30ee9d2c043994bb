"""The enterprise-administration commands through the message bus: rights, the last-admin rule, concurrency, audit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from config.bootstrap import Container
from tests.conftest import Cast, _empty_tables, make_cast, wait_for
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import GuardFailed, InvalidInput, NotFound, PermissionDenied
from workflow.store.tables import AuditEventRow, UserRow


def _admin(container: Container, cast: Cast) -> Actor:
    with container.sessions() as session, session.begin():
        session.execute(update(UserRow).where(UserRow.id == cast.applicant.user_id).values(is_enterprise_admin=True))
    return cast.applicant


def _second_admin(container: Container, cast: Cast, first: Actor) -> Actor:
    command = c.AddEnterpriseUser(first, cast.enterprise_id, "second.admin", "第二管理员", "b@example.cn", "x", True)
    user_id = container.bus.handle(command)
    return Actor(user_id, Role.APPLICANT, "second.admin", enterprise_id=cast.enterprise_id)


def _admins(container: Container, enterprise_id: int) -> int:
    with container.sessions() as session:
        query = select(func.count()).where(
            UserRow.enterprise_id == enterprise_id, UserRow.is_enterprise_admin.is_(True), UserRow.active.is_(True)
        )
        return int(session.scalar(query) or 0)


def _events(container: Container) -> list[tuple[str, str]]:
    with container.sessions() as session:
        rows = session.execute(select(AuditEventRow.object_type, AuditEventRow.trigger).order_by(AuditEventRow.id))
        return [(object_type, trigger) for object_type, trigger in rows]


def test_the_admins_changes_commit_with_their_audit_events(container: Container) -> None:
    cast = make_cast(container)
    admin = _admin(container, cast)
    version = container.bus.handle(c.UpdateEnterpriseProfile(admin, cast.enterprise_id, phone="+86 592 688 1234"))
    assert version == 1
    assert container.bus.handle(c.UpdateEnterpriseProfile(admin, cast.enterprise_id, phone="+86 592 688 1234")) == 1
    second = _second_admin(container, cast, admin)
    container.bus.handle(c.ChangeEnterpriseUser(second, cast.enterprise_id, admin.user_id or 0, is_admin=False))
    assert _events(container) == [("enterprise", "edit_profile"), ("user", "add_user"), ("user", "unmake_admin")]
    assert _admins(container, cast.enterprise_id) == 1


def test_refusals_write_nothing(container: Container) -> None:
    cast = make_cast(container)
    rival = make_cast(container, suffix="R")
    admin = _admin(container, cast)
    refusals: list[tuple[c.Command, type[Exception]]] = [
        (c.UpdateEnterpriseProfile(cast.applicant, cast.enterprise_id, name=""), InvalidInput),
        (c.UpdateEnterpriseProfile(rival.applicant, cast.enterprise_id, name="x"), NotFound),
        (c.UpdateEnterpriseProfile(cast.reviewer, cast.enterprise_id, name="x"), PermissionDenied),
        (c.ChangeEnterpriseUser(admin, cast.enterprise_id, admin.user_id or 0, active=False), GuardFailed),
        (c.ChangeEnterpriseUser(admin, cast.enterprise_id, rival.applicant.user_id or 0, active=False), NotFound),
        (c.AddEnterpriseUser(admin, cast.enterprise_id, "a", "x", "a@b.cn", "hash"), InvalidInput),
    ]
    for command, error in refusals:
        with pytest.raises(error):
            container.bus.handle(command)
    assert _events(container) == [] and _admins(container, cast.enterprise_id) == 1


def test_two_admins_removing_each_other_at_once_leave_one(
    make_container: Callable[..., Container], postgres_url: str
) -> None:
    """The enterprise row's lock orders the two changes: the second sees the first and is refused.

    Without the lock, each would count the other as the remaining admin and both would step down.
    """
    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    first = _admin(container, cast)
    second = _second_admin(container, cast, first)
    outcome: list[Any] = []
    with container.deps.uow() as held:
        held.enterprise_admin.lock(cast.enterprise_id)  # the first admin's change, not yet committed
        held.enterprise_admin.set_user(second.user_id or 0, True, False)
        thread = threading.Thread(target=_run, args=(container, second, cast, first, outcome))
        thread.start()
        wait_for(lambda: _waiting_on_a_lock(container), what="the second change to wait for the first's lock")
        held.commit()
    thread.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], PermissionDenied), outcome  # no longer an admin
    assert _admins(container, cast.enterprise_id) == 1


def test_a_profile_edit_in_progress_does_not_hold_up_the_enterprises_filings(
    make_container: Callable[..., Container], postgres_url: str
) -> None:
    """The edit takes the enterprise row FOR NO KEY UPDATE: a row referring to the enterprise (a declaration, an
    application) checks its foreign key with KEY SHARE, which that lock lets through; FOR UPDATE would block it."""
    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    with container.deps.uow() as held:
        held.enterprise_admin.lock(cast.enterprise_id)  # an admin's edit, not yet committed
        with container.engine.connect() as other:
            other.execute(text("SET lock_timeout = '2s'"))  # blocked would fail here, not hang
            found = other.execute(
                text("SELECT id FROM enterprises WHERE id = :id FOR KEY SHARE"), {"id": cast.enterprise_id}
            ).scalar()
            other.rollback()
        held.commit()
    assert found == cast.enterprise_id


def _run(container: Container, actor: Actor, cast: Cast, target: Actor, outcome: list[Any]) -> None:
    try:
        outcome.append(container.bus.handle(c.ChangeEnterpriseUser(actor, cast.enterprise_id, target.user_id or 0,
                                                                   is_admin=False)))  # fmt: skip
    except Exception as error:  # noqa: BLE001 - the test asserts which one
        outcome.append(error)


def _waiting_on_a_lock(container: Container) -> bool:
    with container.engine.connect() as connection:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(connection.scalar(query))
