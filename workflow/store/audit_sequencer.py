"""The audit chain's sequencer: seals the events writers left unsealed into their district's chain, and signs the head.

Writers insert their events unsealed and never lock the chain (workflow/store/audit_chain.py). The sequencer, in a
short transaction of its own per district, locks the district's head row, takes the unsealed events in id order,
links them after the head, moves the head and signs it — the way a Certificate Transparency log sequences submitted
entries into its tree (RFC 6962; Trillian's sequencer). Chain order is sealing order. Beat runs it every
`SPECGOODS_AUDIT_SEAL_SECONDS`, which bounds how long an event stays unsealed; a district whose head another run
holds is skipped, never waited for. Checkpoints and evidence packs seal first (`seal_in`). docs/audit-trail.md.
Its runs also sign the receipts write-offs queued (workflow/store/receipt_sequencer.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from workflow.domain.audit_chain import GENESIS, head_payload, link
from workflow.store.audit_chain import (
    EVENT_COLUMNS,
    EVENTS,
    HEADS,
    UNSEALED_EVENTS,
    Sign,
    unsealed_districts,
    unsigned_districts,
    upsert,
)
from workflow.store.receipt_sequencer import seal_receipts
from workflow.store.tables import AuditChainHeadRow, AuditEventRow

log = logging.getLogger(__name__)
SEAL_BATCH = 5_000  # events sealed per round: a sealing transaction stays short however far behind it is


class AuditSequencer:
    """Seals districts one transaction each: beat's task, and the CLI's `audit seal`."""

    def __init__(self, engine: Engine, sign: Sign, now: Callable[[], datetime]) -> None:
        self.engine, self.sign, self.now = engine, sign, now

    def seal(self, districts: Iterable[str] | None = None) -> dict[str, int]:
        """Seal the waiting events, then sign the queued receipts; district -> events sealed now."""
        sealed = self.seal_events(districts)
        self.seal_receipts()
        return sealed

    def seal_receipts(self) -> int:
        """Sign and chain the receipts write-offs queued (workflow/store/receipt_sequencer.py); how many."""
        with self.engine.begin() as connection:
            return seal_receipts(connection, self.sign, self.now())

    def seal_events(self, districts: Iterable[str] | None = None) -> dict[str, int]:
        """District -> events sealed now; a district another sequencer holds is skipped, not waited for."""
        if districts is None:
            with self.engine.connect() as connection:
                districts = waiting_districts(connection)
        sealed = {}
        for district in sorted(set(districts)):
            with self.engine.begin() as connection:
                count = seal_district(connection, district, self.sign, self.now())
            if count is not None:
                sealed[district] = count
        return sealed


def seal_in(connection: Connection, sign: Sign, now: datetime) -> dict[str, int]:
    """Seal every district and sign the queued receipts, inside the caller's transaction: before a signed checkpoint."""
    sealed = {district: seal_district(connection, district, sign, now) for district in waiting_districts(connection)}
    seal_receipts(connection, sign, now)
    return {district: count for district, count in sealed.items() if count is not None}


def waiting_districts(connection: Connection) -> list[str]:
    """Districts with events to seal, or whose head has no signature yet (made before migration 0016)."""
    return sorted({*unsealed_districts(connection), *unsigned_districts(connection)})


def seal_district(connection: Connection, district: str, sign: Sign, now: datetime) -> int | None:
    """Seal the district's unsealed events, a batch at a time; None if another sequencer holds the head (skipped).

    Called inside a transaction the caller commits. The head is signed whenever it moves, and when it has no
    signature yet (a head made before migration 0016).
    """
    head = _lock_head(connection, district)
    if head is None:
        return None
    seq, head_hash, token = head
    sealed = 0
    while batch := _unsealed_batch(connection, district):
        seq, head_hash = link(batch, seq, head_hash)
        connection.execute(_SEAL_EVENT, [_sealed_columns(event) for event in batch])
        sealed += len(batch)
        if len(batch) < SEAL_BATCH:
            break
    if sealed or (seq and not token):
        _kid, token = sign(head_payload(district, seq, head_hash, now))  # the token names its key itself
        move = update(AuditChainHeadRow).where(HEADS.district == district)
        connection.execute(move.values(seq=seq, event_hash=head_hash, token=token, sealed_at=now))
    return sealed


def _lock_head(connection: Connection, district: str) -> tuple[int, str, str] | None:
    """The head's (seq, hash, token) under its row lock; None if another sequencer holds it (PostgreSQL).

    SQLite has one writer at a time anyway: the sealing transaction simply waits its turn.
    """
    query = select(HEADS.seq, HEADS.event_hash, HEADS.token).where(HEADS.district == district)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = connection.execute(query).first()
    if row is None:
        # A district's first event: create its head (a concurrent first sequencer may win), then try it again.
        first = upsert(connection, AuditChainHeadRow).values(district=district, seq=0, event_hash=GENESIS, token="")
        connection.execute(first.on_conflict_do_nothing())
        row = connection.execute(query).first()
    return None if row is None else (int(row.seq), str(row.event_hash), str(row.token))


def _unsealed_batch(connection: Connection, district: str) -> list[dict[str, Any]]:
    """The oldest unsealed events (by id), read back as stored: what the verifier will hash is what is hashed."""
    query = (
        select(*EVENT_COLUMNS).where(EVENTS.district == district, UNSEALED_EVENTS).order_by(EVENTS.id).limit(SEAL_BATCH)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


_SEAL_EVENT = (
    update(AuditEventRow)
    .where(EVENTS.id == bindparam("sealed_id"), UNSEALED_EVENTS)
    .values(chain_seq=bindparam("seq"), prev_hash=bindparam("prev"), event_hash=bindparam("hash"))
)


def _sealed_columns(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sealed_id": event["id"],
        "seq": event["chain_seq"],
        "prev": event["prev_hash"],
        "hash": event["event_hash"],
    }
