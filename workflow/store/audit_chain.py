"""The audit hash chain in the database: events written unsealed by their transaction, and the chain read back.

A transaction writes its audit events with empty chain columns and takes no lock on the chain (a unit of work in its
commit's statement, workflow/store/together.py; anything else with `insert_unsealed`): a district's writers never
queue behind one row. The sequencer (workflow/store/audit_sequencer.py) seals them into
the district's chain shortly after. This module also reads the chain for the verifier and writes the hourly signed
checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.domain.audit_chain import checkpoint_payload
from workflow.store.bulk import insert_rows
from workflow.store.tables import AuditChainHeadRow, AuditCheckpointRow, AuditEventRow

HEADS = AuditChainHeadRow.__table__.c
EVENTS = AuditEventRow.__table__.c
CHECKPOINTS = AuditCheckpointRow.__table__.c

# Everything a walk needs, in one narrow SELECT.
EVENT_COLUMNS = (
    EVENTS.id,
    EVENTS.district,
    EVENTS.chain_seq,
    EVENTS.prev_hash,
    EVENTS.event_hash,
    EVENTS.object_type,
    EVENTS.object_id,
    EVENTS.object_ref,
    EVENTS.actor_id,
    EVENTS.actor_role,
    EVENTS.actor_name,
    EVENTS.at,
    EVENTS.trigger,
    EVENTS.from_state,
    EVENTS.to_state,
    EVENTS.reason,
    EVENTS.policy_id,
    EVENTS.policy_hash,
    EVENTS.rule_ids,
    EVENTS.inputs,
)


Sign = Callable[[dict[str, Any]], tuple[str, str]]  # names its key in the payload, returns (kid, compact token)
UNSEALED_EVENTS = EVENTS.chain_seq.is_(None)


def insert_unsealed(connection: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Events with their chain columns empty, outside a unit of work: no lock, no read of the head.

    As the unit of work's commit does, their rule ids and inputs go as they are: the insert's JSON encoding gives
    them their stored form, which is what the sequencer hashes.
    """
    insert_rows(connection, AuditEventRow, events)


def unsealed_districts(connection: Connection) -> list[str]:
    """Districts with events waiting to be sealed (the partial index of unsealed events answers it)."""
    query = select(EVENTS.district).where(UNSEALED_EVENTS).distinct()
    return sorted(connection.execute(query).scalars())


def unsigned_districts(connection: Connection) -> list[str]:
    """Districts whose head carries no signature yet (heads made before migration 0016)."""
    return sorted(connection.execute(select(HEADS.district).where(HEADS.token == "", HEADS.seq > 0)).scalars())


def unsealed(connection: Connection, district: str) -> tuple[int, datetime | None]:
    """How many of the district's events wait to be sealed, and when the oldest of them was written."""
    query = select(func.count(), func.min(EVENTS.at)).where(EVENTS.district == district, UNSEALED_EVENTS)
    count, oldest = connection.execute(query).one()
    return int(count), oldest


def head_token(connection: Connection, district: str) -> str:
    return str(connection.execute(select(HEADS.token).where(HEADS.district == district)).scalar() or "")


def heads(connection: Connection, district: str | None = None) -> dict[str, tuple[int, str]]:
    query = select(HEADS.district, HEADS.seq, HEADS.event_hash)
    if district is not None:
        query = query.where(HEADS.district == district)
    return {row.district: (int(row.seq), str(row.event_hash)) for row in connection.execute(query)}


def districts(connection: Connection) -> list[str]:
    """Every district with a chain: those with a head, and those whose events lost their head row."""
    with_events = set(connection.execute(select(EVENTS.district).distinct()).scalars())
    return sorted(with_events | set(heads(connection)))


def count_events(connection: Connection, district: str) -> int:
    return int(connection.execute(select(func.count()).where(EVENTS.district == district)).scalar_one())


def stream_events(
    connection: Connection, district: str, first: int = 1, last: int | None = None, batch: int = 10_000
) -> Iterator[RowMapping]:
    """The district's events from `first` to `last` (or the end) in chain order, streamed in batches.

    One query read through a server-side cursor on PostgreSQL: memory stays flat for any length, and fetching
    row by row had cost more than the hashing.
    """
    query = select(*EVENT_COLUMNS).where(EVENTS.district == district, EVENTS.chain_seq >= first)
    if last is not None:
        query = query.where(EVENTS.chain_seq <= last)
    result = connection.execution_options(yield_per=batch).execute(query.order_by(EVENTS.chain_seq))
    for partition in result.mappings().partitions():
        yield from partition


def event_at(connection: Connection, district: str, seq: int) -> tuple[int, str] | None:
    """(id, hash) of the event at `seq`: where a walk that starts after it picks up the chain."""
    query = select(EVENTS.id, EVENTS.event_hash).where(EVENTS.district == district, EVENTS.chain_seq == seq)
    row = connection.execute(query).first()
    return (int(row[0]), str(row[1])) if row else None


def last_seq(connection: Connection, district: str) -> int:
    query = select(func.max(EVENTS.chain_seq)).where(EVENTS.district == district)
    return int(connection.execute(query).scalar() or 0)


def segment(connection: Connection, district: str, first: int, last: int) -> list[tuple[int, str, str]]:
    """(seq, prev_hash, hash) of a stretch of the chain: what links a certificate's events to a checkpoint."""
    query = (
        select(EVENTS.chain_seq, EVENTS.prev_hash, EVENTS.event_hash)
        .where(EVENTS.district == district, EVENTS.chain_seq.between(first, last))
        .order_by(EVENTS.chain_seq)
    )
    return [(int(row.chain_seq), str(row.prev_hash), str(row.event_hash)) for row in connection.execute(query)]


# -- signed checkpoints ---------------------------------------------------------------------------------------------


def write_checkpoints(session: Session, sign: Sign, now: datetime) -> list[dict[str, Any]]:
    """Sign each district's current head, unless its latest checkpoint already covers it; returns what was signed."""
    written = []
    connection = session.connection()
    for district, (seq, head_hash) in sorted(heads(connection).items()):
        if seq == 0 or latest_checkpoint_seq(connection, district) == seq:
            continue
        kid, token = sign(checkpoint_payload(district, seq, head_hash, now))
        row = {"district": district, "seq": seq, "event_hash": head_hash, "at": now, "key_id": kid, "token": token}
        connection.execute(upsert(connection, AuditCheckpointRow).values(**row).on_conflict_do_nothing())
        written.append(row)
    return written


def upsert(connection: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)


def latest_checkpoint_seq(connection: Connection, district: str) -> int | None:
    return connection.execute(select(func.max(CHECKPOINTS.seq)).where(CHECKPOINTS.district == district)).scalar()


def checkpoints(connection: Connection, district: str | None = None) -> list[RowMapping]:
    query = select(AuditCheckpointRow.__table__).order_by(CHECKPOINTS.district, CHECKPOINTS.seq)
    if district is not None:
        query = query.where(CHECKPOINTS.district == district)
    return list(connection.execute(query).mappings())
