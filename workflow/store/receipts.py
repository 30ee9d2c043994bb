"""Write-off receipts in the database: each line's chain head, new receipts, and a certificate's receipts in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from workflow.domain.receipts import LineHead
from workflow.store.bulk import insert_rows
from workflow.store.tables import CertificateLineRow, WriteOffReceiptRow

RECEIPTS = WriteOffReceiptRow.__table__


# Each line's newest receipt, built once: the write-off's hot path runs it on every receipted draw.
_LATEST = (
    select(RECEIPTS.c.certificate_line_id, func.max(RECEIPTS.c.seq).label("seq"))
    .where(RECEIPTS.c.certificate_line_id.in_(bindparam("lines", expanding=True)))
    .group_by(RECEIPTS.c.certificate_line_id)
    .subquery()
)
_HEADS = select(RECEIPTS.c.certificate_line_id, RECEIPTS.c.seq, RECEIPTS.c.receipt_hash, RECEIPTS.c.net_committed).join(
    _LATEST, (RECEIPTS.c.certificate_line_id == _LATEST.c.certificate_line_id) & (RECEIPTS.c.seq == _LATEST.c.seq)
)


class SqlReceipts:
    """Read a line's head under the line's row lock (the write-off's guarded UPDATE holds it), then append."""

    def __init__(self, session: Session, now: Callable[[], datetime]) -> None:
        self.session, self.now = session, now

    def heads(self, line_ids: Sequence[int]) -> dict[int, LineHead]:
        rows = self.session.connection().execute(_HEADS, {"lines": list(line_ids)})
        found = {row[0]: LineHead(row[1], row[2], row[3]) for row in rows}
        return {line_id: found.get(line_id, LineHead()) for line_id in line_ids}

    def add(self, receipts: Sequence[dict[str, Any]]) -> None:
        if receipts:
            now = self.now()
            rows = [{"created_at": now, **row} for row in receipts]
            insert_rows(self.session.connection(), WriteOffReceiptRow, rows)


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
