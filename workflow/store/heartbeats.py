"""Worker heartbeats: each worker upserts its own row every few seconds; readiness reads the fresh ones.

A row per worker node (a handful of rows, never history), so writing is one upsert and reading is one small scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from workflow.store.tables import WorkerHeartbeatRow


@dataclass(frozen=True)
class Heartbeat:
    """One worker as it last reported itself."""

    hostname: str
    queues: tuple[str, ...]
    pid: int
    beat_at: datetime


def beat(connection: Connection, hostname: str, queues: Iterable[str], pid: int, now: datetime) -> None:
    """Insert or refresh this worker's row; a restarted worker (new pid) starts its row afresh."""
    values = {"hostname": hostname, "queues": ",".join(sorted(queues)), "pid": pid, "started_at": now, "beat_at": now}
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(WorkerHeartbeatRow).values(values)
    refreshed = {"queues": upsert.excluded.queues, "pid": upsert.excluded.pid, "beat_at": upsert.excluded.beat_at}
    connection.execute(upsert.on_conflict_do_update(index_elements=["hostname"], set_=refreshed))


def forget(connection: Connection, hostname: str) -> None:
    """A worker that stops cleanly removes its row: it is gone, not stale."""
    connection.execute(delete(WorkerHeartbeatRow).where(WorkerHeartbeatRow.hostname == hostname))


def forget_silent_since(connection: Connection, cutoff: datetime) -> None:
    """Rows of workers killed long ago (a replaced container's host name never comes back) leave the table."""
    connection.execute(delete(WorkerHeartbeatRow).where(WorkerHeartbeatRow.beat_at < cutoff))


def heartbeats(connection: Connection) -> list[Heartbeat]:
    """Every worker row, freshest first; the caller decides which are fresh enough."""
    rows = connection.execute(select(WorkerHeartbeatRow).order_by(WorkerHeartbeatRow.beat_at.desc()))
    return [Heartbeat(row.hostname, tuple(filter(None, row.queues.split(","))), row.pid, row.beat_at) for row in rows]
