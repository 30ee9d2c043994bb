"""The outbox relay: publishes committed task messages, right after commit and again on every sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workflow.store.tables import OutboxRow

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any], str], None]
RELAY_BATCH = 200


class OutboxRelay:
    """Hands unpublished rows to `publish(task, payload, message_id)`; a row is marked only once the broker took it.

    Delivery is at least once: if the commit marking a row fails after the broker accepted it, the row goes again,
    which the idempotent tasks absorb.
    """

    def __init__(self, sessions: sessionmaker[Session], publish: Publish, now: Callable[[], datetime]) -> None:
        self.sessions, self.publish, self.now = sessions, publish, now
        self.broker_down = False  # logged once when the broker stops taking rows, once when it takes them again

    def relay(self, limit: int = RELAY_BATCH) -> int:
        with self.sessions() as session, session.begin():
            rows = session.scalars(self._pending(session, limit)).all()
            return self._publish_rows(rows)

    @staticmethod
    def _pending(session: Session, limit: int) -> Any:
        query = select(OutboxRow).where(OutboxRow.published_at.is_(None)).order_by(OutboxRow.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            # Two relays (the post-commit hook and the beat sweep) never publish the same row at once.
            query = query.with_for_update(skip_locked=True)
        return query

    def _publish_rows(self, rows: Any) -> int:
        sent = 0
        for row in rows:
            try:
                self.publish(row.task, row.payload, f"outbox-{row.id}")
            except Exception as exc:  # noqa: BLE001 - any broker failure leaves the row for the next sweep
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                self._note_outage(row.id, row.last_error)
                break
            row.published_at = self.now()
            sent += 1
        if sent and self.broker_down:
            self.broker_down = False
            log.warning("outbox relay: the broker takes messages again")
        return sent

    def _note_outage(self, row_id: int, error: str) -> None:
        """One line per outage, not one per commit: every commit while the broker is down tries again."""
        if not self.broker_down:
            self.broker_down = True
            log.warning("outbox relay stopped at row %s: %s (rows wait for the next sweep)", row_id, error)
