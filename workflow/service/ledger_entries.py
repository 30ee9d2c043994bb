"""Ledger rows in, receipts queued: each commit and reversal waits for its receipt in a row written with it.

The receipt sequencer signs and chains the queued receipts after the commit (workflow/store/receipt_sequencer.py,
docs/audit-trail.md), so a write-off holds its line's lock for its own rows and the commit only, not for a
signature and a statement of its own (#15).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from workflow.domain.receipts import RECEIPTED_KINDS
from workflow.service.ports import UnitOfWork

_RECEIPTED = {kind.value for kind in RECEIPTED_KINDS}
Entry = tuple[int, dict[str, Any]]  # a ledger row with the id it was written under


def record_entries(uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    """Append the ledger rows in one statement; each commit and reversal among them is queued for its receipt."""
    queue_receipts(uow, append_entries(uow, rows))


def append_entries(uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> list[Entry]:
    """The ledger rows, in one statement: each with the id of its entry."""
    return list(zip(uow.ledger.append(list(rows)), rows, strict=True))


def append_declared(
    uow: UnitOfWork,
    rows: Sequence[dict[str, Any]],
    entry_ids: Iterator[int],
    changes: Mapping[int, tuple[Decimal, Decimal]],
) -> dict[int, Decimal] | None:
    """The declaration's hot path: the ledger rows, each taking the next id drawn ahead, then the lines drawn.

    The rows and their places in the receipt queue go with the declarations and the audit events of the transaction
    so far, before the line lock. What each line has left comes back, or None when one lacked its change.
    """
    numbered = [(next(entry_ids), row) for row in rows]
    queue_receipts(uow, numbered)
    return uow.write_declared([{**row, "id": entry_id} for entry_id, row in numbered], changes)


def queue_receipts(uow: UnitOfWork, entries: Sequence[Entry]) -> None:
    """Each commit and reversal among the entries waits for its receipt: staged, written with the next statement."""
    uow.receipts.queue([entry_id for entry_id, row in entries if row["kind"] in _RECEIPTED])
