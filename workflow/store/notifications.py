"""Notifications in SQL: each user's in-app inbox and the delivery status of each message's e-mail copy.

What a step tells an enterprise's users or a district's officers is written with its commit on PostgreSQL: the
unit of work's last statement finds the recipients as it writes their notifications, and the e-mail copies' outbox
rows with them (workflow/store/together.py), so telling costs the step no statement of its own. On SQLite, or
outside a unit of work, each is written as it is asked for: one INSERT … SELECT.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, Text, bindparam, cast, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope
from workflow.store.bulk import insert_rows_returning_ids
from workflow.store.repositories import SqlOutbox, in_scope
from workflow.store.tables import CertificateRow, DeclarationRow, EnterpriseRow, NotificationRow, OutboxRow, UserRow
from workflow.store.together import Fanned, TableRows

Now = Callable[[], datetime]
EMAIL_STATUSES = frozenset({"pending", "sent", "failed", "skipped"})
EMAIL_COPY_KEY = "notification_id"  # what an e-mail copy's outbox payload names its notification by


# Whom a decision on an enterprise's file is told: read on most steps of the lifecycle, so built once.
_ENTERPRISE_USERS = (
    select(UserRow.id)
    .where(UserRow.enterprise_id == bindparam("enterprise_id"), UserRow.active.is_(True))
    .order_by(UserRow.id)
)
# Every page's header asks it: built once, a compiled-cache hit per page instead of a statement built per page.
_UNREAD = select(func.count()).select_from(
    select(NotificationRow.id)
    .where(NotificationRow.user_id == bindparam("user_id"), NotificationRow.read_at.is_(None))
    .limit(bindparam("cap"))
    .subquery()
)
_TOLD = (
    bindparam("kind", type_=String),
    bindparam("params", type_=NotificationRow.params.type),
    bindparam("now", type_=NotificationRow.created_at.type),
)
# The same users told, in one INSERT … SELECT: no round trip to read them first.
_TO_ENTERPRISE = (
    insert(NotificationRow)
    .from_select(["user_id", "kind", "params", "created_at"], _ENTERPRISE_USERS.add_columns(*_TOLD))
    .returning(NotificationRow.id)
)
# An officer's queue notice: the district's active users of the role, keyed per user, with no e-mail copy
# (workflow/service/officer_notifications.py).
_USER = UserRow
_OF_ROLE = select(
    _USER.id,
    *_TOLD,
    bindparam("key", type_=String) + literal(":") + cast(_USER.id, String),
    literal("skipped"),
    bindparam("why", type_=Text),
).where(_USER.district == bindparam("district"), _USER.role == bindparam("role"), _USER.active.is_(True))
_INBOX_COLUMNS = ["user_id", "kind", "params", "created_at", "dedup_key", "email_status", "email_error"]


@functools.cache
def _inbox_only_of_role(dialect_name: str) -> Any:
    """Keyed per user: a key already written (a concurrent copy of the change, which then loses) is left alone."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(NotificationRow).from_select(_INBOX_COLUMNS, _OF_ROLE).on_conflict_do_nothing()


# The same two INSERT … SELECTs as parts of the commit's statement, for every ask of the transaction at once. Each
# ask is a notification row (json_populate_record converts its values with the columns' own input functions) and
# whom it reaches; the users are read per ask by index (a LATERAL lookup, kept one by OFFSET 0: pulled up into a
# join, it became a hash join over a sequential scan of every user, the planner guessing a hundred asks), in ask
# order and then user order, so ids are drawn in the order the per-statement path gives them.
_ASKS = (
    "FROM json_array_elements({asks}) WITH ORDINALITY AS a(ask, n) "
    "CROSS JOIN LATERAL json_populate_record(NULL::notifications, a.ask) AS r CROSS JOIN LATERAL (SELECT id FROM users "
)
_WRITTEN = "u.id, r.kind, r.params, r.created_at, r.email_status, r.email_attempts, r.email_error"
_ENTERPRISE_COLUMNS = ("user_id", "kind", "params", "created_at", "email_status", "email_attempts", "email_error")
_ENTERPRISE_ASKS = (
    f"SELECT {_WRITTEN} {_ASKS}"
    "WHERE enterprise_id = CAST(a.ask ->> 'enterprise_id' AS bigint) AND active OFFSET 0) AS u ORDER BY a.n, u.id"
)
_ROLE_COLUMNS = (*_ENTERPRISE_COLUMNS, "dedup_key")
_ROLE_ASKS = (
    f"SELECT {_WRITTEN}, r.dedup_key || ':' || u.id {_ASKS}"
    "WHERE district = a.ask ->> 'district' AND role = a.ask ->> 'role' AND active OFFSET 0) AS u ORDER BY a.n, u.id"
)
_EMAILED = {"email_status": "pending", "email_attempts": 0, "email_error": ""}  # the columns' defaults


@dataclass
class _Asked:
    """Notices asked for in a transaction, for its commit's statement: to enterprises by e-mail task, to roles."""

    to_enterprises: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    to_roles: list[dict[str, Any]] = field(default_factory=list)


class SqlNotifications:
    """Writes go into the caller's transaction; the caller commits."""

    def __init__(self, session: Session, now: Now, outbox: SqlOutbox | None = None) -> None:
        """`outbox`: the unit of work's, whose commit writes the notices asked to go with it (PostgreSQL)."""
        self.session, self.now, self.outbox = session, now, outbox
        self.asked = _Asked()

    def _at_commit(self) -> bool:
        return self.outbox is not None and self.session.get_bind().dialect.name == "postgresql"

    def add(self, user_id: int, kind: str, params: Mapping[str, str], key: str | None = None) -> int:
        row = {"user_id": user_id, "kind": kind, "params": dict(params), "created_at": self.now(), "dedup_key": key}
        # The id goes into the outbox row written next, in the same transaction: a plain INSERT … RETURNING.
        (notification_id,) = insert_rows_returning_ids(self.session.connection(), NotificationRow, [row])
        return notification_id

    def add_for_enterprise(self, enterprise_id: int, kind: str, params: Mapping[str, str], email_task: str) -> None:
        """One notification per active user of the enterprise, each with an e-mail copy: an `email_task` outbox row.

        With the commit's statement on PostgreSQL; elsewhere one INSERT … SELECT now, its ids (in user order) then
        named by the copies.
        """
        if self._at_commit():
            ask = {"enterprise_id": enterprise_id, "kind": kind, "params": dict(params), "created_at": self.now()}
            self.asked.to_enterprises.setdefault(email_task, []).append(ask | _EMAILED)
            return
        assert self.outbox is not None, "the e-mail copies go through the unit of work's outbox"
        parameters = {"enterprise_id": enterprise_id, "kind": kind, "params": dict(params), "now": self.now()}
        for notification_id in sorted(self.session.connection().execute(_TO_ENTERPRISE, parameters).scalars()):
            self.outbox.add(email_task, {EMAIL_COPY_KEY: notification_id})

    def add_inbox_only_to_role(
        self, district: str, role: str, kind: str, params: Mapping[str, str], key: str, why: str
    ) -> int:
        """Inbox rows with no e-mail copy for the district's active users of the role, each keyed `key:<user id>`.

        One INSERT … SELECT: the cost of the transaction does not depend on how many officers are told. A key
        already taken writes nothing again. Returns how many were written.
        """
        connection = self.session.connection()
        parameters = {"district": district, "role": role, "kind": kind, "params": dict(params), "now": self.now()}
        result = connection.execute(
            _inbox_only_of_role(connection.dialect.name), {**parameters, "key": key, "why": why}
        )
        return int(result.rowcount)

    def add_inbox_only_to_role_at_commit(
        self, district: str, role: str, kind: str, params: Mapping[str, str], key: str, why: str
    ) -> None:
        """`add_inbox_only_to_role`, with the commit's statement on PostgreSQL: how many is not told then."""
        if not self._at_commit():
            self.add_inbox_only_to_role(district, role, kind, params, key, why)
            return
        ask = {"district": district, "role": role, "kind": kind, "params": dict(params), "created_at": self.now()}
        self.asked.to_roles.append(ask | _EMAILED | {"dedup_key": key, "email_status": "skipped", "email_error": why})

    def take_asked(self, email_copy: Callable[[str], dict[str, Any]]) -> list[Fanned]:
        """The notices asked to go with the commit, as parts of its statement; `email_copy(task)`: a copy's row."""
        asked, self.asked = self.asked, _Asked()
        fanned = [
            Fanned(
                NotificationRow,
                _ENTERPRISE_COLUMNS,
                _ENTERPRISE_ASKS,
                asks,
                copy=TableRows(OutboxRow, [email_copy(task)]),
                copy_key=EMAIL_COPY_KEY,
            )
            for task, asks in asked.to_enterprises.items()
        ]
        if asked.to_roles:
            fanned.append(Fanned(NotificationRow, _ROLE_COLUMNS, _ROLE_ASKS, asked.to_roles, keyed=True))
        return fanned

    def discard(self) -> None:
        self.asked = _Asked()

    def keys_taken(self, keys: Collection[str]) -> set[str]:
        """Which of these keys a notification already carries: one indexed lookup per batch of recipients."""
        if not keys:
            return set()
        return set(self.session.scalars(select(NotificationRow.dedup_key).where(NotificationRow.dedup_key.in_(keys))))

    def users_with_role(self, district: str, role: str) -> list[int]:
        """The district's active users of one role: whom an officer notification fans out to."""
        query = select(UserRow.id).where(UserRow.district == district, UserRow.role == role, UserRow.active.is_(True))
        return list(self.session.scalars(query.order_by(UserRow.id)))

    def certificates_expiring(
        self, first: date, last: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 1000
    ) -> list[Any]:
        """Active certificates whose validity ends in [first, last]: id, certificate_no, enterprise_id, valid_until."""
        query = (
            select(
                CertificateRow.id,
                CertificateRow.certificate_no,
                CertificateRow.enterprise_id,
                CertificateRow.valid_until,
            )
            .where(
                CertificateRow.state == "active",
                CertificateRow.valid_until.between(first, last),
                in_scope(CertificateRow.district, scope),
            )
            .order_by(CertificateRow.valid_until, CertificateRow.id)
            .limit(limit)
        )
        return list(self.session.execute(query))

    def follow_ups_due(
        self, first: date, last: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 1000
    ) -> list[Any]:
        """Follow-up reports awaited and due in [first, last]: (id, declaration_no, enterprise_id, follow_up_due_on)."""
        query = (
            select(
                DeclarationRow.id,
                DeclarationRow.declaration_no,
                DeclarationRow.enterprise_id,
                DeclarationRow.follow_up_due_on,
            )
            .where(
                DeclarationRow.state == "follow_up_pending",
                DeclarationRow.follow_up_due_on.between(first, last),
                in_scope(DeclarationRow.district, scope),
            )
            .order_by(DeclarationRow.follow_up_due_on, DeclarationRow.id)
            .limit(limit)
        )
        return list(self.session.execute(query))

    def unread_count(self, user_id: int, cap: int = 100) -> int:
        """Unread notifications up to `cap`, read off the inbox index (user_id, read_at, id): never a table scan."""
        return int(self.session.scalar(_UNREAD, {"user_id": user_id, "cap": cap}) or 0)

    def mark_all_read(self, user_id: int) -> int:
        result = self.session.execute(
            update(NotificationRow)
            .where(NotificationRow.user_id == user_id, NotificationRow.read_at.is_(None))
            .values(read_at=self.now())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def enterprise_users(self, enterprise_id: int) -> list[int]:
        """The enterprise's active users, who are told together of what is decided for it."""
        return list(self.session.connection().execute(_ENTERPRISE_USERS, {"enterprise_id": enterprise_id}).scalars())

    def inbox(
        self, user_id: int, unread_only: bool = False, before_id: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Newest first; page on with `before_id` = the last id seen (keyset: stable while new ones arrive)."""
        query = select(NotificationRow).where(NotificationRow.user_id == user_id)
        if unread_only:
            query = query.where(NotificationRow.read_at.is_(None))
        if before_id is not None:
            query = query.where(NotificationRow.id < before_id)
        rows = self.session.scalars(query.order_by(NotificationRow.id.desc()).limit(limit))
        return [_inbox_item(row) for row in rows]

    def mark_read(self, user_id: int, notification_id: int) -> bool:
        """False when there is no such notification of this user; reading twice keeps the first time."""
        result = self.session.execute(
            update(NotificationRow)
            .where(NotificationRow.id == notification_id, NotificationRow.user_id == user_id)
            .values(read_at=func.coalesce(NotificationRow.read_at, self.now()))
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def for_email(self, notification_id: int) -> dict[str, Any] | None:
        """The notification with its addressee's e-mail address and locale, or None if it is gone."""
        found = self.session.execute(
            # an applicant has no district of its own: its enterprise's is the one whose local time it reads
            select(
                NotificationRow, UserRow.email, UserRow.locale, func.coalesce(UserRow.district, EnterpriseRow.district)
            )
            .join(UserRow, UserRow.id == NotificationRow.user_id)
            .outerjoin(EnterpriseRow, EnterpriseRow.id == UserRow.enterprise_id)
            .where(NotificationRow.id == notification_id)
        ).one_or_none()
        if found is None:
            return None
        row, email, locale, district = found
        return {
            "id": row.id,
            "user_id": row.user_id,
            "kind": row.kind,
            "params": dict(row.params),
            "created_at": row.created_at,
            "email": email,
            "locale": locale,
            "district": district,  # whose local time the mail shows: an officer's district, an applicant's enterprise's
            "email_status": row.email_status,
            "email_attempts": row.email_attempts,
        }

    def mark_email(self, notification_id: int, status: str, error: str = "") -> None:
        """Record one delivery attempt; 'pending' with an error means a retry is on its way."""
        if status not in EMAIL_STATUSES:
            raise ValueError(f"unknown e-mail status {status!r}")
        self.session.execute(
            update(NotificationRow)
            .where(NotificationRow.id == notification_id)
            .values(
                email_status=status,
                email_attempts=NotificationRow.email_attempts + 1,
                email_error=error[:2000],
                emailed_at=self.now() if status == "sent" else None,
            )
            .execution_options(synchronize_session=False)
        )


def _inbox_item(row: NotificationRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "params": dict(row.params),
        "created_at": f"{row.created_at.isoformat()}Z",  # naive UTC in the table: said so (RFC 3339)
        "read_at": f"{row.read_at.isoformat()}Z" if row.read_at else None,
        "email_status": row.email_status,
    }
