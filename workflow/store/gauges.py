"""Operational gauges read at scrape time: outbox backlog, dead letters and the business gauges per district.

Each read is one statement over an index that leads with its filter, or over a small table (the folded dashboard
counts, the dead letters), so a scrape costs the same at a million applications as at a thousand. The plans are
checked on PostgreSQL in tests/integration/test_metrics.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, case, func, select, union_all

from workflow.domain.ledger import EntryKind
from workflow.domain.lifecycle import DeclState
from workflow.store.district_counts import STATE_PREFIX
from workflow.store.tables import (
    ApplicationRow,
    CertificateRow,
    DeadLetterRow,
    DeclarationRow,
    DistrictCountDeltaRow,
    DistrictCountRow,
    LedgerEntryRow,
    OutboxRow,
)

HELD_STATES = (DeclState.PORT_REVIEW.value, DeclState.LAB_HOLD.value)  # held for a port officer, held for the lab
RECENT_LEDGER_ROWS = 5_000  # the newest ledger rows a write-off rate looks at: it saturates above this per window


@dataclass(frozen=True)
class OutboxBacklog:
    """Rows the broker has not taken, rows sent but not completed by their task, and the age of the oldest of each."""

    unpublished: int
    oldest_unpublished_seconds: float
    incomplete: int
    oldest_incomplete_seconds: float


def outbox_backlog(connection: Connection, now: datetime) -> OutboxBacklog:
    unpublished = OutboxRow.published_at.is_(None)
    incomplete = OutboxRow.completed_at.is_(None) & OutboxRow.redeliver_at.is_not(None)  # the partial index's rows
    waiting = connection.execute(select(func.count(), func.min(OutboxRow.id)).where(unpublished)).one()
    sent = connection.execute(select(func.count(), func.min(OutboxRow.created_at)).where(incomplete)).one()
    oldest = connection.scalar(select(OutboxRow.created_at).where(OutboxRow.id == waiting[1])) if waiting[1] else None
    return OutboxBacklog(waiting[0], _age(now, oldest), sent[0], _age(now, sent[1]))


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def open_dead_letters(connection: Connection) -> int:
    """Dead letters nobody has retried yet (a small table: rows are written only when a task fails for good)."""
    return int(connection.scalar(select(func.count()).where(DeadLetterRow.retried_at.is_(None))) or 0)


def applications_by_state(connection: Connection, districts: Sequence[str]) -> dict[tuple[str, str], int]:
    """(district, state) -> applications: the dashboard's folded counts plus the deltas not folded yet.

    A range of the counts' key (district, counter) per district: the counts by day beside them are never read.
    """
    parts = []
    for table, value in (
        (DistrictCountRow, DistrictCountRow.value),
        (DistrictCountDeltaRow, DistrictCountDeltaRow.delta),
    ):
        in_range = (table.counter >= STATE_PREFIX) & (table.counter < STATE_PREFIX[:-1] + "/")  # "/" follows "."
        parts.append(
            select(table.district, table.counter, value.label("n")).where(table.district.in_(districts), in_range)
        )
    both = union_all(*parts).subquery()
    summed = select(both.c.district, both.c.counter, func.sum(both.c.n)).group_by(both.c.district, both.c.counter)
    return {(district, counter[len(STATE_PREFIX) :]): int(n) for district, counter, n in connection.execute(summed)}


def clock_deadlines(connection: Connection, windows: Mapping[str, tuple[date, date]]) -> dict[str, tuple[int, int]]:
    """Per district, (due soon, overdue) running statutory clocks (R19–R22), for each district's (today, soon until).

    Only files whose clock runs have a due date; each district is one range of (district, decision_due_on).
    """
    found: dict[str, tuple[int, int]] = {}
    for (today, soon_until), districts in _by_window(windows).items():
        due = ApplicationRow.decision_due_on
        soon, late = func.sum(case((due >= today, 1), else_=0)), func.sum(case((due < today, 1), else_=0))
        query = (
            select(ApplicationRow.district, soon, late)
            .where(ApplicationRow.district.in_(districts), due.is_not(None), due <= soon_until)
            .group_by(ApplicationRow.district)
        )
        found |= {district: (int(n_soon), int(n_late)) for district, n_soon, n_late in connection.execute(query)}
    return found


def _by_window(windows: Mapping[str, tuple[date, date]]) -> dict[tuple[date, date], list[str]]:
    """Districts sharing a local date share one statement (all of China's do)."""
    grouped: dict[tuple[date, date], list[str]] = {}
    for district, window in sorted(windows.items()):
        grouped.setdefault(window, []).append(district)
    return grouped


def recent_writeoffs(connection: Connection, since: datetime) -> dict[str, int]:
    """Per district, the write-offs committed since `since`, among the newest ledger rows (read backwards by id)."""
    newest = (
        select(LedgerEntryRow.certificate_id, LedgerEntryRow.kind, LedgerEntryRow.at)
        .order_by(LedgerEntryRow.id.desc())
        .limit(RECENT_LEDGER_ROWS)
        .subquery()
    )
    query = (
        select(CertificateRow.district, func.count())
        .join(newest, newest.c.certificate_id == CertificateRow.id)
        .where(newest.c.kind == EntryKind.COMMIT.value, newest.c.at >= since)
        .group_by(CertificateRow.district)
    )
    return {district: int(n) for district, n in connection.execute(query)}


def held_declarations(connection: Connection) -> dict[tuple[str, str], int]:
    """(district, state) -> declarations held at the port or in the lab, read through the index on state."""
    query = (
        select(DeclarationRow.district, DeclarationRow.state, func.count())
        .where(DeclarationRow.state.in_(HELD_STATES))
        .group_by(DeclarationRow.district, DeclarationRow.state)
    )
    return {(district, state): int(n) for district, state, n in connection.execute(query)}
