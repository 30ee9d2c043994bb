"""Readiness: the database, the broker and the workers, each up or down with a reason code and the details.

No worker is pinged: workers write heartbeat rows (tasks/heartbeats.py) and this reads them. The broker gets one
Redis PING with a short socket timeout; the in-memory transport of the embedded mode is in this very process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from config import broker
from config.celery_config import QUEUES
from config.settings import Settings
from workflow.store.heartbeats import Heartbeat, heartbeats

Check = dict[str, Any]  # {"up": bool, "reason": a code anyone may see (when down), "detail": for admins}


def utc_now() -> datetime:
    """Heartbeats are written and read on the hosts' UTC clocks, never the business clock of the policy book."""
    return datetime.now(UTC).replace(tzinfo=None)


def readiness(settings: Settings, engine: Engine) -> dict[str, Check]:
    """Each part's check; the web answers 200 only when every one is up."""
    database, workers = _database_and_workers(settings, engine)
    return {"database": database, "broker": _broker(settings), "workers": workers}


def _database_and_workers(settings: Settings, engine: Engine) -> tuple[Check, Check]:
    """One query proves the database answers and reads the heartbeats."""
    try:
        with engine.connect() as connection:
            rows = heartbeats(connection)
    except Exception as error:  # noqa: BLE001 - a readiness probe reports any failure instead of raising it
        down = _down("unreachable", error)
        return down, {"up": False, "reason": "unknown", "detail": "the database holding the heartbeats is down"}
    return {"up": True, "detail": engine.dialect.name}, _workers(rows, settings, utc_now())


def _workers(rows: list[Heartbeat], settings: Settings, now: datetime) -> Check:
    stale_after = timedelta(seconds=settings.worker_stale_seconds)
    fresh = [row for row in rows if now - row.beat_at <= stale_after]
    detail = {
        "workers": [{"hostname": r.hostname, "queues": list(r.queues), "age_seconds": _age(now, r)} for r in rows],
        "stale_after_seconds": settings.worker_stale_seconds,
    }
    uncovered = sorted(set(QUEUES) - {queue for row in fresh for queue in row.queues})
    if not rows:
        return {"up": False, "reason": "no_worker", "detail": detail}
    if not fresh:
        return {"up": False, "reason": "stale", "detail": detail}
    if uncovered:
        return {"up": False, "reason": "queues_without_worker", "detail": detail | {"uncovered": uncovered}}
    return {"up": True, "detail": detail}


def _age(now: datetime, row: Heartbeat) -> float:
    return round((now - row.beat_at).total_seconds(), 1)


def _broker(settings: Settings) -> Check:
    if settings.is_embedded:
        return {"up": True, "detail": "memory"}
    try:
        broker.ping(settings.redis_url)
    except Exception as error:  # noqa: BLE001 - as above
        return _down("unreachable", error)
    return {"up": True, "detail": "redis"}


def _down(reason: str, error: Exception) -> Check:
    return {"up": False, "reason": reason, "detail": f"{type(error).__name__}: {error}"}
