"""Idempotency keys of API requests whose command has no key of its own, in the write-offs' idempotency table.

The key is claimed, the request's work done and its response stored in one transaction (`one_transaction`), so a
key is never committed without its response: a request that fails or dies leaves no trace and may simply be sent
again. A concurrent duplicate waits on the claimed key until the first request ends, then replays its response (or
runs, if the first one wrote nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from workflow.domain.errors import ConcurrencyConflict, DuplicateRequest
from workflow.store.ledger import SqlIdempotency

CLAIM_ATTEMPTS = 3


class ApiIdempotency:
    def __init__(self, sessions: sessionmaker[Session], now: Callable[[], datetime]) -> None:
        self.sessions, self.now = sessions, now

    def replay_or_claim(self, key: str, actor_id: int | None, fingerprint: str) -> tuple[str, dict[str, Any]] | None:
        """The stored (fingerprint, result) of an earlier request with this key, or None once the key is ours.

        Inside the request's transaction: the claim becomes visible to others only with the response beside it.
        """
        for _ in range(CLAIM_ATTEMPTS):
            try:
                return self._replay_or_claim(key, actor_id, fingerprint)
            except DuplicateRequest:
                continue  # a concurrent request with this key committed first: its response is there now
        raise ConcurrencyConflict("the request kept colliding with concurrent ones; try again", field="Idempotency-Key")

    def _replay_or_claim(self, key: str, actor_id: int | None, fingerprint: str) -> tuple[str, dict[str, Any]] | None:
        with self.sessions() as session, session.begin():
            store = SqlIdempotency(session, self.now)
            stored = store.replay(key)
            if stored is None:
                store.claim(key, actor_id, fingerprint)
            return stored

    def record(self, key: str, result: dict[str, Any]) -> None:
        with self.sessions() as session, session.begin():
            SqlIdempotency(session, self.now).record(key, result)
