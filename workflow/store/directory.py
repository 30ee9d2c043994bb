"""Enterprises, users and credit records: administration outside the approval lifecycles, used by CLI and demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.domain.actors import Actor, Role
from workflow.domain.errors import InvalidInput
from workflow.store.tables import CreditRecordRow, EnterpriseRow, UserRow


@dataclass(frozen=True)
class UserAccount:
    id: int
    username: str
    password_hash: str
    actor: Actor


def find_enterprise(session: Session, uscc: str) -> EnterpriseRow | None:
    return session.scalar(select(EnterpriseRow).where(EnterpriseRow.uscc == uscc))


def ensure_enterprise(
    session: Session,
    *,
    name: str,
    uscc: str,
    district: str,
    now: datetime,
    name_en: str = "",
    is_natural_person: bool = False,
) -> EnterpriseRow:
    """Idempotent by the unified social credit code, so loading demo data twice changes nothing."""
    row = find_enterprise(session, uscc)
    if row is None:
        row = EnterpriseRow(
            name=name,
            name_en=name_en,
            uscc=uscc,
            district=district,
            is_natural_person=is_natural_person,
            created_at=now,
        )
        session.add(row)
        session.flush()
    return row


def find_user(session: Session, username: str) -> UserAccount | None:
    row = session.scalar(select(UserRow).where(UserRow.username == username, UserRow.active.is_(True)))
    return None if row is None else account_of(row)


def account_of(row: UserRow) -> UserAccount:
    return UserAccount(row.id, row.username, row.password_hash, actor_of(row))


def actor_of(row: UserRow) -> Actor:
    """The one way a stored user becomes the actor that travels with commands."""
    return Actor(row.id, Role(row.role), row.display_name or row.username, row.enterprise_id, row.district)


def create_user(
    session: Session,
    *,
    username: str,
    role: Role,
    password_hash: str,
    now: datetime,
    display_name: str = "",
    enterprise_id: int | None = None,
    district: str | None = None,
) -> UserRow:
    """Applicants belong to an enterprise and customs officers to a district (R11: never both)."""
    if role is Role.APPLICANT and enterprise_id is None:
        raise InvalidInput("an applicant user belongs to an enterprise", field="enterprise")
    if role.is_customs and enterprise_id is not None:
        raise InvalidInput("a customs officer cannot belong to an enterprise", field="enterprise")
    if session.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
        raise InvalidInput(f"user {username!r} already exists", field="username")
    row = UserRow(
        username=username,
        display_name=display_name,
        password_hash=password_hash,
        role=role.value,
        enterprise_id=enterprise_id,
        district=district,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def ensure_credit(
    session: Session,
    *,
    enterprise_id: int,
    tier: str,
    regime: str,
    effective_from: date,
    effective_to: date | None = None,
) -> None:
    exists = session.scalar(
        select(CreditRecordRow.id).where(
            CreditRecordRow.enterprise_id == enterprise_id,
            CreditRecordRow.regime == regime,
            CreditRecordRow.effective_from == effective_from,
        )
    )
    if exists is None:
        session.add(
            CreditRecordRow(
                enterprise_id=enterprise_id,
                tier=tier,
                regime=regime,
                effective_from=effective_from,
                effective_to=effective_to,
            )
        )
