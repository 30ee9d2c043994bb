"""The enterprise's own administration in the tables: its profile, its applicant users and their audit events.

Every change of an enterprise's profile or users first locks the enterprise's row (`lock`), so the changes of one
enterprise run one after another: the "at least one admin" count a change relies on cannot be changed underneath it
by a concurrent change (two admins removing each other would otherwise both see the other still there). SQLite's
BEGIN IMMEDIATE already serialises writers; PostgreSQL gets SELECT … FOR UPDATE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow.domain.actors import Actor, Role
from workflow.domain.enterprise import EnterpriseProfile, EnterpriseUser
from workflow.domain.errors import InvalidInput, NotFound
from workflow.domain.model import Aggregate, TransitionRecord
from workflow.store.repositories import AuditTrail
from workflow.store.tables import EnterpriseRow, UserRow


class SqlEnterpriseAdmin:
    def __init__(self, session: Session, audit: AuditTrail, now: Callable[[], datetime]) -> None:
        self.session, self.audit, self.now = session, audit, now

    def lock(self, enterprise_id: int) -> EnterpriseProfile:
        # FOR NO KEY UPDATE: edits are ordered, but a declaration's foreign-key check (KEY SHARE) is not blocked.
        query = select(EnterpriseRow).where(EnterpriseRow.id == enterprise_id).with_for_update(key_share=True)
        row = self.session.scalar(query)
        if row is None:
            raise NotFound(f"no enterprise {enterprise_id}")
        return profile_of(row)

    def user(self, user_id: int) -> EnterpriseUser | None:
        row = self.session.get(UserRow, user_id)
        return user_of(row) if row is not None else None

    def other_active_admins(self, enterprise_id: int, user_id: int) -> int:
        query = select(func.count()).where(
            UserRow.enterprise_id == enterprise_id,
            UserRow.id != user_id,
            UserRow.active.is_(True),
            UserRow.is_enterprise_admin.is_(True),
        )
        return int(self.session.scalar(query) or 0)

    def update_profile(self, enterprise_id: int, version: int, values: Mapping[str, str]) -> bool:
        """UPDATE … WHERE version = ?: False when someone else's edit came first."""
        result = self.session.execute(
            update(EnterpriseRow)
            .where(EnterpriseRow.id == enterprise_id, EnterpriseRow.version == version)
            .values(**values, version=version + 1)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def add_user(
        self, enterprise_id: int, username: str, display_name: str, email: str, password_hash: str, is_admin: bool
    ) -> int:
        row = UserRow(
            username=username,
            display_name=display_name,
            email=email,
            password_hash=password_hash,
            role=Role.APPLICANT.value,
            enterprise_id=enterprise_id,
            is_enterprise_admin=is_admin,
            created_at=self.now(),
        )
        if self.session.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
            raise InvalidInput(f"the user name {username!r} is taken", field="username")
        try:
            with self.session.begin_nested():  # a name taken meanwhile by another enterprise: a field error, not a 500
                self.session.add(row)
        except IntegrityError:
            raise InvalidInput(f"the user name {username!r} is taken", field="username") from None
        return row.id

    def set_user(self, user_id: int, active: bool, is_admin: bool) -> None:
        self.session.execute(
            update(UserRow).where(UserRow.id == user_id).values(active=active, is_enterprise_admin=is_admin)
        )

    def record(
        self,
        object_type: str,
        object_id: int,
        ref: str,
        district: str,
        actor: Actor,
        trigger: str,
        inputs: Mapping[str, Any],
    ) -> None:
        """One audit event outside the lifecycles, chained like every other (compare accounts.record_login)."""
        entry = TransitionRecord(trigger, "", trigger, actor, reason="", rule_ids=(), inputs=dict(inputs))
        self.audit.write(object_type, Aggregate(id=object_id), ref[:40], district, [entry])


def profile_of(row: EnterpriseRow) -> EnterpriseProfile:
    return EnterpriseProfile(
        id=row.id,
        uscc=row.uscc,
        district=row.district,
        name=row.name,
        name_en=row.name_en,
        address=row.address,
        contact_person=row.contact_person,
        phone=row.phone,
        version=row.version,
    )


def user_of(row: UserRow) -> EnterpriseUser:
    return EnterpriseUser(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        enterprise_id=row.enterprise_id,
        active=row.active,
        is_admin=row.is_enterprise_admin,
    )


def enterprise_users(session: Session, enterprise_id: int) -> list[EnterpriseUser]:
    """The enterprise's applicant users, oldest first (for the pages and the API's list)."""
    rows = session.scalars(select(UserRow).where(UserRow.enterprise_id == enterprise_id).order_by(UserRow.id))
    return [user_of(row) for row in rows]


def is_enterprise_admin(session: Session, user_id: int) -> bool:
    query = select(UserRow.id).where(
        UserRow.id == user_id, UserRow.active.is_(True), UserRow.is_enterprise_admin.is_(True)
    )
    return session.scalar(query) is not None


def make_admin(session: Session, username: str) -> bool:
    """The demo's and the CLI's way to name an enterprise's admin; idempotent, True when something changed."""
    result = session.execute(
        update(UserRow)
        .where(UserRow.username == username, UserRow.role == Role.APPLICANT.value)
        .where(UserRow.is_enterprise_admin.is_(False))
        .values(is_enterprise_admin=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
