"""Reconciliation: the background work that should have finished by now and has not, for `specgoods tasks overdue`.

Read-only and not on any request path: it scans the incomplete outbox rows and the unsealed audit events (partial
indexes hold just those), the receipt queue, the dead letters, the e-mails still pending and the open applications,
and lists what is older than the bound.
Each kind of overdue work names what a person should do about it (docs/background-work.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.domain.model import CLOSED_APPLICATION_STATES, submission_unscreened
from workflow.store.tables import (
    ApplicationRow,
    AuditEventRow,
    DeadLetterRow,
    LedgerEntryRow,
    NotificationRow,
    OutboxRow,
    ReceiptQueueRow,
)

SHOWN_PER_KIND = 50


@dataclass
class OverdueKind:
    """One kind of overdue work: how many there are and the first few, oldest first."""

    kind: str
    count: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, item: dict[str, Any]) -> None:
        self.count += 1
        if len(self.items) < SHOWN_PER_KIND:
            self.items.append(item)


def overdue_work(session: Session, now: datetime, older_than: timedelta) -> list[OverdueKind]:
    """Every kind, in the order an operator would look at them; a kind with a count of 0 is in order."""
    since = now - older_than
    return [
        _collect("unsent", _unsent(session, since)),
        _collect("incomplete", _incomplete(session, since)),
        _collect("dead_letters", _dead_letters(session)),
        _collect("unscreened", _unscreened(session, since)),
        _collect("email_pending", _email_pending(session, since)),
        _collect("unsealed_events", _unsealed_events(session, since)),
        _collect("unsigned_receipts", _unsigned_receipts(session, since)),
    ]


def _collect(kind: str, items: Iterator[dict[str, Any]]) -> OverdueKind:
    found = OverdueKind(kind)
    for item in items:
        found.add(item)
    return found


def _unsent(session: Session, since: datetime) -> Iterator[dict[str, Any]]:
    """Rows the broker has not taken: the broker is down or no relay runs (is beat running?)."""
    query = (
        select(OutboxRow)
        .where(OutboxRow.published_at.is_(None), OutboxRow.completed_at.is_(None), OutboxRow.created_at <= since)
        .order_by(OutboxRow.id)
    )
    for row in session.scalars(query):
        yield {**_row(row), "attempts": row.attempts, "last_error": row.last_error.partition("\n")[0]}


def _incomplete(session: Session, since: datetime) -> Iterator[dict[str, Any]]:
    """Rows sent but never completed: no worker takes the queue, or the task dies each time it runs."""
    query = (
        select(OutboxRow)
        .where(OutboxRow.redeliver_at.is_not(None), OutboxRow.completed_at.is_(None), OutboxRow.created_at <= since)
        .order_by(OutboxRow.id)
    )
    for row in session.scalars(query):
        yield {**_row(row), "deliveries": row.deliveries, "next_delivery": _iso(row.redeliver_at)}


def _dead_letters(session: Session) -> Iterator[dict[str, Any]]:
    """Tasks that failed for good and were not retried: `specgoods tasks retry ID` once the cause is fixed."""
    query = select(DeadLetterRow).where(DeadLetterRow.retried_at.is_(None)).order_by(DeadLetterRow.id)
    for row in session.scalars(query):
        yield {
            "id": row.id,
            "task": row.task,
            "payload": row.payload,
            "since": _iso(row.failed_at),
            "error": row.error.partition("\n")[0],
        }


def _unscreened(session: Session, since: datetime) -> Iterator[dict[str, Any]]:
    """Open files whose latest submission has no screening: the check on the effect itself, not on the outbox."""
    query = (
        select(
            ApplicationRow.id,
            ApplicationRow.reference,
            ApplicationRow.state,
            ApplicationRow.received_on,
            ApplicationRow.screening,
            ApplicationRow.updated_at,
        )
        .where(
            ApplicationRow.state.not_in([str(state) for state in CLOSED_APPLICATION_STATES]),
            ApplicationRow.received_on.is_not(None),
            ApplicationRow.updated_at <= since,
        )
        .order_by(ApplicationRow.id)
        .execution_options(yield_per=500)
    )
    for row in session.execute(query):
        if submission_unscreened(row.state, row.received_on, row.screening):
            yield {"id": row.id, "reference": row.reference, "state": row.state, "since": _iso(row.updated_at)}


def _email_pending(session: Session, since: datetime) -> Iterator[dict[str, Any]]:
    """Notifications whose e-mail copy is still pending after the bound (one that failed for good is a dead letter)."""
    query = (
        select(NotificationRow)
        .where(NotificationRow.email_status == "pending", NotificationRow.created_at <= since)
        .order_by(NotificationRow.id)
    )
    for row in session.scalars(query):
        yield {
            "id": row.id,
            "status": row.email_status,
            "since": _iso(row.created_at),
            "error": row.email_error.partition("\n")[0],
        }


def _unsealed_events(session: Session, since: datetime) -> Iterator[dict[str, Any]]:
    """Audit events the sequencer has not sealed into their chain: beat is not running it, or it fails."""
    query = (
        select(AuditEventRow.id, AuditEventRow.district, AuditEventRow.at)
        .where(AuditEventRow.chain_seq.is_(None), AuditEventRow.at <= since)
        .order_by(AuditEventRow.district, AuditEventRow.id)
    )
    for row in session.execute(query):
        yield {"id": row.id, "district": row.district, "since": _iso(row.at)}


def _unsigned_receipts(session: Session, since: datetime) -> Iterator[dict[str, Any]]:
    """Write-offs queued for their receipt and not signed: beat is not running the sequencer, or it fails."""
    query = (
        select(LedgerEntryRow.id, LedgerEntryRow.certificate_id, LedgerEntryRow.kind, LedgerEntryRow.at)
        .join(ReceiptQueueRow, ReceiptQueueRow.ledger_entry_id == LedgerEntryRow.id)
        .where(LedgerEntryRow.at <= since)
        .order_by(LedgerEntryRow.id)
    )
    for row in session.execute(query):
        yield {"entry_id": row.id, "certificate_id": row.certificate_id, "kind": row.kind, "since": _iso(row.at)}


def _row(row: OutboxRow) -> dict[str, Any]:
    return {"id": row.id, "task": row.task, "payload": row.payload, "since": _iso(row.created_at)}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
