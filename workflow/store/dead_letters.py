"""Dead letters: tasks that failed for good, kept with their payload for an administrator to inspect and retry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflow.store.tables import DeadLetterRow

Now = Callable[[], datetime]


class SqlDeadLetters:
    """Writes go into the caller's transaction; the caller commits."""

    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now

    def record(self, task: str, task_id: str, payload: Mapping[str, Any], error: str) -> int:
        row = DeadLetterRow(task=task, task_id=task_id[:64], payload=dict(payload), error=error, failed_at=self.now())
        self.session.add(row)
        self.session.flush()
        return row.id

    def list(self, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first."""
        rows = self.session.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit))
        return [_as_dict(row) for row in rows]

    def get(self, dead_letter_id: int) -> dict[str, Any] | None:
        row = self.session.get(DeadLetterRow, dead_letter_id)
        return None if row is None else _as_dict(row)

    def mark_retried(self, dead_letter_id: int) -> None:
        self.session.execute(
            update(DeadLetterRow)
            .where(DeadLetterRow.id == dead_letter_id)
            .values(retried_at=self.now())
            .execution_options(synchronize_session=False)
        )


def _as_dict(row: DeadLetterRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "task": row.task,
        "task_id": row.task_id,
        "payload": dict(row.payload),
        "error": row.error,
        "failed_at": row.failed_at.isoformat(),
        "retried_at": row.retried_at.isoformat() if row.retried_at else None,
    }
