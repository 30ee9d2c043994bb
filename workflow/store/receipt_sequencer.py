"""The receipt sequencer: signs and chains the receipts of the commits and reversals that write-offs queued.

A write-off writes each commit and reversal with a row in the receipt queue (workflow/service/ledger_entries.py) and
never reads a line's receipt chain, so it holds the line's lock for its own rows and the commit only (#15). The
sequencer, in a transaction, takes the oldest queued movements (a batch at a time; on PostgreSQL those another run
holds are skipped), locks their lines' chain heads in line order (`receipt_heads`, rows no write-off touches, so a
write-off never waits for a sequencer nor a sequencer for a write-off's line); signs each receipt after the one
before it on its line; writes the receipts and the new heads; and takes the movements off the queue. Chain order is
sealing order: a line's receipts are numbered from 1 without a gap, each links the hash of the token before it, and
each net is the one before plus or minus its quantity, whatever order the movements committed in.

The audit sequencer's runs run it too (beat, every SPECGOODS_AUDIT_SEAL_SECONDS; `specgoods audit seal`; before a
checkpoint or an evidence pack), which bounds how long a movement waits for its receipt (docs/audit-trail.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from workflow.domain.audit_chain import GENESIS
from workflow.domain.ledger import EntryKind
from workflow.domain.receipts import LineHead, Movement, receipt_hash, receipt_payload
from workflow.store.audit_chain import Sign, upsert
from workflow.store.tables import (
    CertificateLineRow,
    CertificateRow,
    DeclarationRow,
    LedgerEntryRow,
    ReceiptHeadRow,
    ReceiptQueueRow,
    WriteOffReceiptRow,
)

SEAL_BATCH = 2_000  # movements per transaction: a head is locked for one batch's signatures at most

_QUEUE = ReceiptQueueRow.__table__
_HEAD = ReceiptHeadRow.__table__.c
_QUEUED = (
    select(
        LedgerEntryRow.id,
        LedgerEntryRow.certificate_id,
        LedgerEntryRow.certificate_line_id,
        LedgerEntryRow.kind,
        LedgerEntryRow.qty,
        LedgerEntryRow.unit,
        LedgerEntryRow.at,
        LedgerEntryRow.reverses_entry_id,
        CertificateLineRow.line_no,
        CertificateRow.certificate_no,
        DeclarationRow.declaration_no,
    )
    .select_from(ReceiptQueueRow)
    .join(LedgerEntryRow, LedgerEntryRow.id == ReceiptQueueRow.ledger_entry_id)
    .join(CertificateLineRow, CertificateLineRow.id == LedgerEntryRow.certificate_line_id)
    .join(CertificateRow, CertificateRow.id == LedgerEntryRow.certificate_id)
    .outerjoin(DeclarationRow, DeclarationRow.id == LedgerEntryRow.declaration_id)
    .order_by(ReceiptQueueRow.ledger_entry_id)
    .limit(SEAL_BATCH)
)
_HEADS = (
    select(_HEAD.certificate_line_id, _HEAD.seq, _HEAD.receipt_hash, _HEAD.net_committed)
    .where(_HEAD.certificate_line_id.in_(bindparam("lines", expanding=True)))
    .order_by(_HEAD.certificate_line_id)
)
_MOVE_HEAD = (
    update(ReceiptHeadRow)
    .where(_HEAD.certificate_line_id == bindparam("line_id"))
    .values(seq=bindparam("seq"), receipt_hash=bindparam("hash"), net_committed=bindparam("net"))
)
_DEQUEUE = delete(ReceiptQueueRow).where(_QUEUE.c.ledger_entry_id.in_(bindparam("entries", expanding=True)))


def seal_receipts(connection: Connection, sign: Sign, now: datetime) -> int:
    """Sign every queued movement's receipt, a batch at a time, inside the caller's transaction; how many."""
    sealed = 0
    while batch := _queued(connection):
        sealed += _seal(connection, batch, sign, now)
        if len(batch) < SEAL_BATCH:
            break
    return sealed


def _queued(connection: Connection) -> list[Any]:
    """The oldest queued movements with what their receipts name; PostgreSQL skips those another run holds."""
    query = _QUEUED
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(of=ReceiptQueueRow, skip_locked=True)
    return list(connection.execute(query))


def _seal(connection: Connection, batch: Sequence[Any], sign: Sign, now: datetime) -> int:
    """One batch: its receipts signed in queue order, each after its line's head, then written with the new heads."""
    heads = _locked_heads(connection, sorted({row.certificate_line_id for row in batch}))
    receipts = []
    for row in batch:
        payload = receipt_payload(_movement(row), heads[row.certificate_line_id])
        kid, token = sign(payload)
        head = heads[row.certificate_line_id] = LineHead(payload["seq"], receipt_hash(token), _net(payload))
        receipts.append(_receipt_row(row, head, kid, token, now))
    connection.execute(insert(WriteOffReceiptRow), receipts)
    moved = [
        {"line_id": line_id, "seq": head.seq, "hash": head.receipt_hash, "net": head.net_committed}
        for line_id, head in heads.items()
    ]
    connection.execute(_MOVE_HEAD, moved)
    connection.execute(_DEQUEUE, {"entries": [row.id for row in batch]})
    return len(batch)


def _locked_heads(connection: Connection, line_ids: list[int]) -> dict[int, LineHead]:
    """Each line's chain head under its row's lock, in line order; a line's first receipt makes its genesis head.

    Two sequencers that both find a line without a head both insert it; one insert does nothing. SQLite has one
    writer at a time anyway: the sealing transaction simply waits its turn.
    """
    fresh = [
        {"certificate_line_id": line_id, "seq": 0, "receipt_hash": GENESIS, "net_committed": 0} for line_id in line_ids
    ]
    connection.execute(upsert(connection, ReceiptHeadRow).on_conflict_do_nothing(), fresh)
    query = _HEADS.with_for_update() if connection.dialect.name == "postgresql" else _HEADS
    rows = connection.execute(query, {"lines": line_ids})
    return {row[0]: LineHead(int(row.seq), str(row.receipt_hash), Decimal(row.net_committed)) for row in rows}


def _movement(row: Any) -> Movement:
    return Movement(
        row.id,
        row.certificate_no,
        row.certificate_line_id,
        row.line_no,
        EntryKind(row.kind),
        row.qty,
        row.unit,
        row.declaration_no,
        row.at,
        row.reverses_entry_id,
    )


def _net(payload: Mapping[str, Any]) -> Decimal:
    return Decimal(str(payload["net_committed"]))


def _receipt_row(row: Any, head: LineHead, kid: str, token: str, now: datetime) -> dict[str, Any]:
    return {
        "ledger_entry_id": row.id,
        "certificate_id": row.certificate_id,
        "certificate_line_id": row.certificate_line_id,
        "seq": head.seq,
        "net_committed": head.net_committed,
        "receipt_hash": head.receipt_hash,
        "key_id": kid,
        "token": token,
        "created_at": now,
    }
