"""The outbox's completion: a row is done only when its task's effect has committed, and is sent again until then.

The relay publishes a row as the Celery task `outbox-<row id>` and sets `redeliver_at`. The worker, once the task
has returned (its effect committed in the task's own transaction), marks the row complete in another transaction.
Whatever dies in between — the worker mid-task, the worker after the effect but before the mark, the broker with
the message in it — the row is still incomplete at `redeliver_at`, so the sweep sends it again; the tasks are
idempotent, so a second run changes nothing and only completes the row. Each redelivery doubles the wait before
the next (up to `MAX_REDELIVERY_WAIT`), so a long worker outage queues a handful of copies, not one per sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from workflow.store.tables import OUTBOX_INCOMPLETE, OutboxRow
from workflow.store.together import TableRows, stage, take_staged

MESSAGE_PREFIX = "outbox-"
MAX_REDELIVERY_WAIT = timedelta(hours=6)


class Outcome:
    """How a task ended: its effect committed, a rule refused it (retrying cannot help), or it failed for good."""

    DONE = "done"
    REFUSED = "refused"
    FAILED = "failed"  # recorded as a dead letter too; `specgoods tasks retry` queues it again as a new row


def message_id(row_id: int) -> str:
    """The Celery task id of a row: the worker reads the row back from it."""
    return f"{MESSAGE_PREFIX}{row_id}"


def row_id_of(task_id: str | None) -> int | None:
    """The outbox row a task was sent for; None for beat's scheduled tasks and anything else not from the outbox."""
    if not task_id or not task_id.startswith(MESSAGE_PREFIX):
        return None
    number = task_id.removeprefix(MESSAGE_PREFIX)
    return int(number) if number.isdigit() else None


def redelivery_wait(after: timedelta, deliveries: int) -> timedelta:
    """`after` for the first delivery, doubled for each one since, never more than `MAX_REDELIVERY_WAIT`."""
    doublings = min(max(deliveries - 1, 0), 16)
    wait: timedelta = after * (2**doublings)
    return min(wait, MAX_REDELIVERY_WAIT)


@dataclass(frozen=True)
class SentRow:
    """A row its unit of work wrote as sent: the relay publishes it from memory once the commit is done."""

    id: int
    task: str
    payload: dict[str, Any]


def sent_at_commit(now: datetime, after: timedelta) -> dict[str, Any]:
    """A row's columns when it is written as sent by the commit that makes it (its first delivery).

    The publish follows the commit with no transaction of its own to record it. If the process dies in between,
    the row is due again at `redeliver_at` like any delivery no task completed; if the broker refuses it, the relay
    writes it back as unsent for the next sweep (`OutboxRelay.publish_sent`).
    """
    return {"published_at": now, "deliveries": 1, "redeliver_at": now + redelivery_wait(after, 1)}


def unsend(session: Session, row_ids: list[int], error: str) -> None:
    """Rows the broker refused after their commit: back to unsent, the refusal counted, for the next sweep."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(row_ids), OutboxRow.completed_at.is_(None))
        .values(
            published_at=None,
            redeliver_at=None,
            deliveries=OutboxRow.deliveries - 1,
            attempts=OutboxRow.attempts + 1,
            last_error=error,
        )
        .execution_options(synchronize_session=False)
    )


def mark_sent(row: OutboxRow, now: datetime, after: timedelta) -> None:
    """The broker took the row: it is due again at `redeliver_at` unless a task completes it first."""
    row.deliveries += 1
    row.published_at = row.published_at or now
    row.redeliver_at = now + redelivery_wait(after, row.deliveries)


def complete(session: Session, row_id: int, outcome: str, now: datetime) -> bool:
    """Mark the row complete; False if it already was (a second delivery's run, or the row is gone)."""
    # On the connection, not the session: the ORM's bulk UPDATE path (nothing in the session maps the row anyway)
    # cost the worker about as much CPU as the statement's round trip (#15).
    result = session.connection().execute(
        update(OutboxRow)
        .where(OutboxRow.id == row_id, OutboxRow.completed_at.is_(None))
        .values(completed_at=now, outcome=outcome)
    )
    return bool(result.rowcount)


def stage_completion(session: Session, row_id: int, now: datetime) -> TableRows:
    """Mark the row done with the transaction's last statement (workflow/store/together.py), at no round trip.

    Unlike `complete` it sets the row whatever it held: only the one transaction that commits the task's effect
    stages it, so a row already marked can only have been marked refused or failed by an earlier run, and "done"
    is then the truer word. The rows staged are returned: `staged_unwritten` tells a commit that did not write them
    (it took no unit of work's path), and the caller completes the row with `complete` instead.
    """
    rows = TableRows(OutboxRow, [{"id": row_id, "completed_at": now, "outcome": Outcome.DONE}])
    stage(session, rows, updating=True)
    return rows


def staged_unwritten(session: Session, rows: TableRows) -> bool:
    """Whether `rows` are still waiting for a combined statement; whatever else waits is left waiting."""
    left = take_staged(session)
    for part in left.inserts:
        stage(session, part)
    for part in left.updates:
        if part is not rows:
            stage(session, part, updating=True)
    return any(part is rows for part in left.updates)


def first_sends(limit: int) -> Select[Any]:
    """Rows never sent, oldest first; a row a fast task completed before the relay recorded its send is skipped."""
    unsent = OutboxRow.published_at.is_(None) & OutboxRow.completed_at.is_(None)
    return select(OutboxRow).where(unsent).order_by(OutboxRow.id).limit(limit)


def redeliveries(now: datetime, limit: int) -> Select[Any]:
    """Rows sent but not completed by their `redeliver_at`, oldest due first, on the partial index of those rows."""
    due = OUTBOX_INCOMPLETE & (OutboxRow.redeliver_at <= now)
    return select(OutboxRow).where(due).order_by(OutboxRow.redeliver_at).limit(limit)
