"""Write-off receipts in the database: each line's chain head, new receipts, and a certificate's receipts in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from workflow.domain.receipts import LineHead
from workflow.store.tables import CertificateLineRow, WriteOffReceiptRow
from workflow.store.together import TableRows, stage

RECEIPTS = WriteOffReceiptRow.__table__


# session.info: each line's receipt chain head as this transaction left it, by line id — returned by the guarded
# UPDATE that locked the line, or moved on by the receipts staged since (written with the commit).
LINE_HEADS = "line_heads"
_LINES = CertificateLineRow.__table__.c
# Each line keeps its chain's head (migration 0026), read under the lock the balance UPDATE took just before.
_HEADS = select(_LINES.id, _LINES.receipt_seq, _LINES.receipt_hash, _LINES.receipt_net).where(
    _LINES.id.in_(bindparam("lines", expanding=True))
)


def remember_head(session: Session, line_id: int, head: LineHead) -> None:
    """The head a guarded UPDATE returned with the line's lock: the receipts that follow need not read it again."""
    session.info.setdefault(LINE_HEADS, {})[line_id] = head


def forget_heads(session: Session) -> None:
    """A rolled-back transaction's heads are no one's."""
    session.info.pop(LINE_HEADS, None)


class SqlReceipts:
    """Read a line's head under the line's row lock (the write-off's guarded UPDATE holds it), then append."""

    def __init__(self, session: Session, now: Callable[[], datetime]) -> None:
        self.session, self.now = session, now

    def heads(self, line_ids: Sequence[int]) -> dict[int, LineHead]:
        """Each line's head: as this transaction left it where it knows it, else read (under the line's lock)."""
        known: dict[int, LineHead] = self.session.info.get(LINE_HEADS, {})
        missing = [line_id for line_id in line_ids if line_id not in known]
        read = {}
        if missing:
            rows = self.session.connection().execute(_HEADS, {"lines": missing})
            read = {row[0]: LineHead(row[1], row[2], row[3]) for row in rows}
        return {line_id: known.get(line_id) or read[line_id] for line_id in line_ids}

    def add(self, receipts: Sequence[dict[str, Any]]) -> None:
        """The receipts, and each line's new head (its last receipt here), staged to be written with the commit.

        Nothing reads a receipt back before then; a later receipt in the same transaction links to the staged head.
        """
        if not receipts:
            return
        now = self.now()
        rows = [{"created_at": now, **row} for row in receipts]
        last = {row["certificate_line_id"]: row for row in sorted(rows, key=lambda row: row["seq"])}
        for line_id, row in last.items():
            remember_head(self.session, line_id, LineHead(row["seq"], row["receipt_hash"], row["net_committed"]))
        heads = [
            {
                "id": line_id,
                "receipt_seq": row["seq"],
                "receipt_hash": row["receipt_hash"],
                "receipt_net": row["net_committed"],
            }
            for line_id, row in last.items()
        ]
        stage(self.session, TableRows(WriteOffReceiptRow, rows))
        stage(self.session, TableRows(CertificateLineRow, heads), updating=True)


def certificate_receipts(connection: Connection, certificate_id: int | None = None) -> list[Any]:
    """Receipts with their line numbers, by line and sequence: every line's chain, ready to walk."""
    query = (
        select(RECEIPTS.c.certificate_id, CertificateLineRow.line_no, RECEIPTS.c.seq, RECEIPTS.c.token)
        .join(CertificateLineRow, CertificateLineRow.id == RECEIPTS.c.certificate_line_id)
        .order_by(RECEIPTS.c.certificate_line_id, RECEIPTS.c.seq)
    )
    if certificate_id is not None:
        query = query.where(RECEIPTS.c.certificate_id == certificate_id)
    return list(connection.execute(query))
