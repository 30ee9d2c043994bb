"""Ledger rows in, signed receipts out: every commit and reversal is receipted in the transaction that makes it.

The line's row lock (taken by the guarded balance UPDATE just before) orders the line's receipts, so the head read
here is the head the receipt links to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from workflow.domain.ledger import CertificateFacts, EntryKind
from workflow.domain.receipts import RECEIPTED_KINDS, LineHead, Movement, receipt_hash, receipt_payload
from workflow.service.ports import Dependencies, UnitOfWork

_RECEIPTED = {kind.value for kind in RECEIPTED_KINDS}


@dataclass(frozen=True)
class Posting:
    """One ledger row to append, with the certificate and declaration its receipt names."""

    certificate: CertificateFacts
    row: dict[str, Any]
    declaration_no: str | None = None


def record_entries(uow: UnitOfWork, deps: Dependencies, postings: Sequence[Posting]) -> None:
    """Append the ledger rows in one statement; each commit and reversal among them gets its signed, chained receipt."""
    receipt_entries(uow, deps, append_entries(uow, postings))


def append_entries(uow: UnitOfWork, postings: Sequence[Posting]) -> list[tuple[int, Posting]]:
    """The ledger rows, in one statement: each posting with the id of its entry."""
    ids = uow.ledger.append([posting.row for posting in postings])
    return list(zip(ids, postings, strict=True))


def append_declared(
    uow: UnitOfWork,
    postings: Sequence[Posting],
    entry_ids: Iterator[int],
    changes: Mapping[int, tuple[Decimal, Decimal]],
) -> tuple[list[tuple[int, Posting]], dict[int, Decimal] | None]:
    """The declaration's hot path: the ledger rows, each taking the next id drawn ahead, then the lines drawn.

    The rows go with the declarations and the audit events of the transaction so far, before the line lock. What
    each line has left comes back, or None when one lacked its change.
    """
    numbered = [(next(entry_ids), posting) for posting in postings]
    left = uow.write_declared([{**posting.row, "id": entry_id} for entry_id, posting in numbered], changes)
    return numbered, left


def receipt_entries(uow: UnitOfWork, deps: Dependencies, entries: Sequence[tuple[int, Posting]]) -> None:
    """Each commit and reversal among appended entries gets its receipt: after the balance statement, under its lock."""
    receipted = [(entry_id, posting) for entry_id, posting in entries if posting.row["kind"] in _RECEIPTED]
    if receipted:
        uow.receipts.add(_receipts(uow, deps, receipted))


def _receipts(uow: UnitOfWork, deps: Dependencies, receipted: list[tuple[int, Posting]]) -> list[dict[str, Any]]:
    """Sign the receipts line by line, each linked to the one before it on its line (read once per batch)."""
    heads = uow.receipts.heads(sorted({posting.row["certificate_line_id"] for _, posting in receipted}))
    now, rows = deps.clock.now(), []
    for entry_id, posting in receipted:
        entry, certificate = posting.row, posting.certificate
        line_id = entry["certificate_line_id"]
        movement = Movement(
            entry_id,
            certificate.certificate_no,
            line_id,
            _line_no(certificate, line_id),
            EntryKind(entry["kind"]),
            entry["qty"],
            entry["unit"],
            posting.declaration_no,
            now,
            entry.get("reverses_entry_id"),
        )
        payload = receipt_payload(movement, heads[line_id])
        kid, token = deps.sign(payload)
        head = heads[line_id] = LineHead(payload["seq"], receipt_hash(token), Decimal(payload["net_committed"]))
        rows.append(_row(entry_id, certificate.id, line_id, head, kid, token))
    return rows


def _line_no(certificate: CertificateFacts, line_id: int) -> int:
    return next(line_no for line_no, line in certificate.lines.items() if line.line_id == line_id)


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
