"""Write-off receipts: one signed receipt per committed or reversed write-off, chained per certificate line.

A receipt names the certificate line, the movement (commit or reverse), its quantity and the line's net committed
quantity after it, and carries the hash of the line's previous receipt. A holder who keeps their receipts can
prove what was written off; a verifier who has a line's receipts can prove none is missing, altered or forged:
the sequence numbers run from 1 without a gap, each `prev` is the SHA-256 of the previous receipt's token, and each
net equals the previous net plus or minus this quantity. docs/paperless.md has the format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from workflow.domain.audit_chain import GENESIS
from workflow.domain.ledger import EntryKind
from workflow.domain.signature import quantity_text

RECEIPT_TYPE = "writeoff-receipt"
RECEIPTED_KINDS = (EntryKind.COMMIT, EntryKind.REVERSE)


@dataclass(frozen=True)
class LineHead:
    """The last receipt of a line: its sequence number, hash and the net committed quantity after it."""

    seq: int = 0
    receipt_hash: str = GENESIS
    net_committed: Decimal = Decimal(0)


@dataclass(frozen=True)
class Movement:
    """A ledger entry that gets a receipt."""

    entry_id: int
    certificate_no: str
    line_id: int
    line_no: int
    kind: EntryKind
    qty: Decimal
    unit: str
    declaration_no: str | None
    at: datetime
    reverses_entry_id: int | None = None


def receipt_payload(movement: Movement, head: LineHead) -> dict[str, Any]:
    """The receipt after `head`; the signer adds its key id."""
    sign = 1 if movement.kind is EntryKind.COMMIT else -1
    return {
        "v": 1,
        "type": RECEIPT_TYPE,
        "certificate_no": movement.certificate_no,
        "line_no": movement.line_no,
        "seq": head.seq + 1,
        "entry_id": movement.entry_id,
        "kind": movement.kind.value,
        "qty": quantity_text(movement.qty),
        "unit": movement.unit,
        "net_committed": quantity_text(head.net_committed + sign * movement.qty),
        "declaration_no": movement.declaration_no,
        "reverses_entry_id": movement.reverses_entry_id,
        "at": movement.at.isoformat(timespec="seconds"),
        "prev": head.receipt_hash,
    }


def receipt_hash(token: str) -> str:
    """What the next receipt's `prev` must be: the SHA-256 of this receipt's whole token (payload and signature)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass
class ReceiptChainCheck:
    """Checks one line's receipts in sequence order (signatures are checked by the caller, who has the keys)."""

    certificate_no: str
    line_no: int
    head: LineHead = field(default_factory=LineHead)
    problem: str | None = None

    def add(self, payload: Mapping[str, Any], token: str) -> None:
        if self.problem is None:
            self.problem = self._check(payload)
        net = Decimal(str(payload.get("net_committed", "0")))
        self.head = LineHead(int(payload.get("seq", 0)), receipt_hash(token), net)

    def _check(self, payload: Mapping[str, Any]) -> str | None:
        seq = payload.get("seq")
        if seq != self.head.seq + 1:
            return f"receipt {seq} follows receipt {self.head.seq}: a receipt is missing or duplicated"
        if payload.get("prev") != self.head.receipt_hash:
            return f"receipt {seq} does not link to receipt {self.head.seq}: one of them was altered"
        sign = 1 if payload.get("kind") == EntryKind.COMMIT.value else -1
        expected = self.head.net_committed + sign * Decimal(str(payload.get("qty", "0")))
        if Decimal(str(payload.get("net_committed"))) != expected:
            return f"receipt {seq} says net {payload.get('net_committed')}, its chain adds up to {expected}"
        return None
