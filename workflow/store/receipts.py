"""Write-off receipts in the database: the movements queued for theirs, and a certificate's receipts in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from workflow.store.tables import CertificateLineRow, ReceiptQueueRow, WriteOffReceiptRow
from workflow.store.together import TableRows, stage

RECEIPTS = WriteOffReceiptRow.__table__


class SqlReceipts:
    """The receipt queue: commits and reversals waiting for the receipt sequencer (store/receipt_sequencer.py)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def queue(self, entry_ids: Sequence[int]) -> None:
        """Staged: the queue's rows go with the unit of work's next combined statement, its entries' or its commit's."""
        stage(self.session, TableRows(ReceiptQueueRow, [{"ledger_entry_id": entry_id} for entry_id in entry_ids]))


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
