"""Ledger rows in, signed receipts out: every commit and reversal is receipted in the transaction that makes it.

The line's row lock (taken by the guarded balance UPDATE just before) orders the line's receipts, so the head read
here is the head the receipt links to.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from workflow.domain.ledger import CertificateFacts, EntryKind
from workflow.domain.receipts import RECEIPTED_KINDS, LineHead, Movement, receipt_hash, receipt_payload
from workflow.service.ports import Dependencies, UnitOfWork

_RECEIPTED = {kind.value for kind in RECEIPTED_KINDS}


def record_entries(
    uow: UnitOfWork,
    deps: Dependencies,
    certificate: CertificateFacts,
    entries: Sequence[dict[str, Any]],
    declaration_no: str | None,
) -> None:
    """Append the ledger rows; each commit and reversal among them gets its signed, chained receipt."""
    ids = uow.ledger.append(entries)
    receipted = [(entry_id, entry) for entry_id, entry in zip(ids, entries, strict=True) if entry["kind"] in _RECEIPTED]
    if receipted:
        uow.receipts.add(_receipts(uow, deps, certificate, receipted, declaration_no))


def _receipts(
    uow: UnitOfWork,
    deps: Dependencies,
    certificate: CertificateFacts,
    receipted: list[tuple[int, dict[str, Any]]],
    declaration_no: str | None,
) -> list[dict[str, Any]]:
    line_nos = {line.line_id: line_no for line_no, line in certificate.lines.items()}
    heads = uow.receipts.heads(sorted({entry["certificate_line_id"] for _, entry in receipted}))
    now, rows = deps.clock.now(), []
    for entry_id, entry in receipted:
        line_id = entry["certificate_line_id"]
        movement = Movement(
            entry_id,
            certificate.certificate_no,
            line_id,
            line_nos[line_id],
            EntryKind(entry["kind"]),
            entry["qty"],
            entry["unit"],
            declaration_no,
            now,
            entry.get("reverses_entry_id"),
        )
        payload = receipt_payload(movement, heads[line_id])
        kid, token = deps.sign(payload)
        head = heads[line_id] = LineHead(payload["seq"], receipt_hash(token), Decimal(payload["net_committed"]))
        rows.append(_row(entry_id, certificate.id, line_id, head, kid, token))
    return rows


def _row(entry_id: int, certificate_id: int, line_id: int, head: LineHead, kid: str, token: str) -> dict[str, Any]:
    return {
        "ledger_entry_id": entry_id,
        "certificate_id": certificate_id,
        "certificate_line_id": line_id,
        "seq": head.seq,
        "net_committed": head.net_committed,
        "receipt_hash": head.receipt_hash,
        "key_id": kid,
        "token": token,
    }
