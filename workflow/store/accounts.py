"""Sign-in data: per-user API tokens and browser sessions (kept as SHA-256 only), password re-hashing, login history.

A token is 32 random bytes: a fast hash is enough to make a stolen table useless and keeps the lookup one indexed
read. A browser session is a token of its own kind (`sgs_`) in the same table, so signing out revokes it on the server
and the old cookie stops working; neither kind is accepted where the other is expected. Passwords are never handled
here beyond storing the hash the web layer computed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.orm import Session

from workflow.domain.actors import Actor, Role
from workflow.domain.model import Aggregate, TransitionRecord
from workflow.store.directory import UserAccount, account_of
from workflow.store.driver_statements import plain_rows
from workflow.store.repositories import AuditTrail
from workflow.store.tables import ApiTokenRow, EnterpriseRow, UserRow

TOKEN_PREFIX = "sgt_"
SESSION_PREFIX = "sgs_"
SESSION_NAME = "browser session"  # how a session shows in the user's token list, where it can be revoked too
LAST_USED_GRANULARITY = timedelta(minutes=5)  # a read does not write on every request, only now and then


@dataclass(frozen=True)
class IssuedToken:
    id: int
    token: str
    name: str
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user_id: int, name: str, now: datetime, lifetime: timedelta) -> IssuedToken:
    return _issue(session, user_id, name, now, lifetime, TOKEN_PREFIX)


def issue_session(session: Session, user_id: int, now: datetime, lifetime: timedelta) -> IssuedToken:
    """A browser session: the token goes into the signed cookie, its hash into the table."""
    return _issue(session, user_id, SESSION_NAME, now, lifetime, SESSION_PREFIX)


def _issue(session: Session, user_id: int, name: str, now: datetime, lifetime: timedelta, prefix: str) -> IssuedToken:
    token = prefix + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        user_id=user_id, name=name, token_hash=token_digest(token), created_at=now, expires_at=now + lifetime
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, token, name, row.expires_at)


def account_for_token(db: Session | Engine, token: str, now: datetime) -> UserAccount | None:
    """The active user a live API token belongs to; expired, revoked, unknown or session tokens give None.

    Given the engine, no ORM session is built for the one read: the API asks this on every request.
    """
    user = _live_user(db, token, now, TOKEN_PREFIX)
    return None if user is None else account_of(user)


def session_actor(db: Session | Engine, token: str, now: datetime) -> tuple[Actor, str] | None:
    """The active user of a live browser session, with their language; None once it is revoked or expired."""
    user = _live_user(db, token, now, SESSION_PREFIX)
    return None if user is None else (account_of(user).actor, user.locale)


def revoke_session(session: Session, token: str, now: datetime) -> None:
    """Signing out: the session's row is revoked, so its cookie is worth nothing from now on."""
    session.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.token_hash == token_digest(token), ApiTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _live_user(db: Session | Engine, token: str, now: datetime, prefix: str) -> Any:
    """The user's columns with the token's dates: one indexed read of plain columns, on every request that signs in."""
    if not token.startswith(prefix):
        return None
    if isinstance(db, Engine):
        return _read_alone(db, token, now)
    bind = db.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql" and not db.in_transaction():
        return _read_alone(bind, token, now)
    user = _checked(db.connection(), token, now)
    db.commit()
    return user


def _read_alone(engine: Engine, token: str, now: datetime) -> Any:
    if engine.dialect.name == "postgresql":
        # One statement needs no transaction of its own: without one, the read is one round trip where BEGIN, the
        # read and ROLLBACK were three, on every request that signs in (docs/performance.md).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return _checked(connection, token, now)
    with engine.begin() as connection:  # SQLite (embedded): the read and the touch in one short transaction
        return _checked(connection, token, now)


def _checked(connection: Connection, token: str, now: datetime) -> Any:
    """The live token's user, its last use noted now and then (the UPDATE commits with the caller's transaction)."""
    found = plain_rows(connection, _LIVE_TOKEN, {"digest": token_digest(token)})
    user = found[0] if found else None
    if user is None or user.revoked_at is not None or user.expires_at <= now:
        return None
    if user.last_used_at is None or now - user.last_used_at > LAST_USED_GRANULARITY:
        connection.execute(_TOUCH_TOKEN, {"token_id": user.token_id, "now": now})
    return user


_TOKEN, _USER = ApiTokenRow, UserRow
# Columns, not entities: the actor needs a handful of the user's fields, the check three of the token's dates.
_LIVE_TOKEN = (
    select(
        _TOKEN.id.label("token_id"),
        _TOKEN.revoked_at,
        _TOKEN.expires_at,
        _TOKEN.last_used_at,
        _USER.id,
        _USER.username,
        _USER.password_hash,
        _USER.role,
        _USER.display_name,
        _USER.enterprise_id,
        _USER.district,
        _USER.locale,
    )
    .join(_USER, _USER.id == _TOKEN.user_id)
    .where(_TOKEN.token_hash == bindparam("digest"), _USER.active.is_(True))
)
_TOUCH_TOKEN = update(_TOKEN).where(_TOKEN.id == bindparam("token_id")).values(last_used_at=bindparam("now"))


def tokens_of(session: Session, user_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(ApiTokenRow).where(ApiTokenRow.user_id == user_id).order_by(ApiTokenRow.id))
    return [
        {
            "id": row.id,
            "name": row.name,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
            "last_used_at": row.last_used_at,
            "revoked": row.revoked_at is not None,
        }
        for row in rows
    ]


def revoke_token(session: Session, user_id: int, token_id: int, now: datetime) -> bool:
    """Only the owner's own token; someone else's is reported as not there."""
    result = session.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.id == token_id, ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_password_hash(session: Session, user_id: int, password_hash: str) -> None:
    session.execute(update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash))


def record_login(
    session: Session,
    audit: AuditTrail,
    username: str,
    account: UserAccount | None,
    outcome: str,
    inputs: dict[str, str],
) -> None:
    """One audit event per sign-in attempt (object_type "user"), chained like every other event.

    An unknown user name is recorded against object id 0 with the name it tried, so guessing shows in the trail.
    """
    actor = account.actor if account else Actor(None, Role.SYSTEM, name=username[:120])
    record = TransitionRecord(outcome, "", outcome, actor, reason="", rule_ids=(), inputs=inputs)
    subject = Aggregate(id=account.id if account else 0)
    audit.write("user", subject, username[:40], _district(session, account), [record])


def _district(session: Session, account: UserAccount | None) -> str:
    if account is None:
        return ""
    if account.actor.district:
        return account.actor.district
    if account.actor.enterprise_id is not None:
        query = select(EnterpriseRow.district).where(EnterpriseRow.id == account.actor.enterprise_id)
        return session.scalar(query) or ""
    return ""
