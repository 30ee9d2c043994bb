"""Idempotency keys of API requests whose command has no key of its own, in the write-offs' idempotency table.

A key is claimed in its own short transaction before the request runs and given its response after; a request that
fails gives its key back, so the client can retry it once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from workflow.store.ledger import SqlIdempotency
from workflow.store.tables import IdempotencyKeyRow


class ApiIdempotency:
    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime]) -> None:
        self.sessions, self.now = sessions, now

    def replay_or_claim(self, key: str, actor_id: int | None, fingerprint: str) -> tuple[str, dict[str, Any]] | None:
        """The stored (fingerprint, result) of an earlier request with this key, or None once the key is ours.

        Raises DuplicateRequest when a concurrent request claimed the key first.
        """
        with self.sessions() as session, session.begin():
            store = SqlIdempotency(session, self.now)
            stored = store.replay(key)
            if stored is None:
                store.claim(key, actor_id, fingerprint)
            return stored

    def record(self, key: str, result: dict[str, Any]) -> None:
        with self.sessions() as session, session.begin():
            SqlIdempotency(session, self.now).record(key, result)

    def release(self, key: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key))
