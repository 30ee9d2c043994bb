"""Notifications in SQL: each user's in-app inbox and the delivery status of each message's e-mail copy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workflow.store.tables import NotificationRow, UserRow

Now = Callable[[], datetime]
EMAIL_STATUSES = frozenset({"pending", "sent", "failed", "skipped"})


class SqlNotifications:
    """Writes go into the caller's transaction; the caller commits."""

    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now

    def add(self, user_id: int, kind: str, params: Mapping[str, str]) -> int:
        row = NotificationRow(user_id=user_id, kind=kind, params=dict(params), created_at=self.now())
        self.session.add(row)
        self.session.flush()  # the id goes into the outbox row written next, in the same transaction
        return row.id

    def enterprise_users(self, enterprise_id: int) -> list[int]:
        """The enterprise's active users, who are told together of what is decided for it."""
        query = select(UserRow.id).where(UserRow.enterprise_id == enterprise_id, UserRow.active.is_(True))
        return list(self.session.scalars(query.order_by(UserRow.id)))

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
            select(NotificationRow, UserRow.email, UserRow.locale)
            .join(UserRow, UserRow.id == NotificationRow.user_id)
            .where(NotificationRow.id == notification_id)
        ).one_or_none()
        if found is None:
            return None
        row, email, locale = found
        return {
            "id": row.id,
            "user_id": row.user_id,
            "kind": row.kind,
            "params": dict(row.params),
            "created_at": row.created_at,
            "email": email,
            "locale": locale,
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
        "created_at": row.created_at.isoformat(),
        "read_at": row.read_at.isoformat() if row.read_at else None,
        "email_status": row.email_status,
    }
