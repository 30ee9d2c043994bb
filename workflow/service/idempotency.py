"""Exactly once per key: a command's result is stored with its idempotency key in the transaction that wrote it.

A retry with the same key replays that result and writes nothing; the same key with another request is refused. The
key is claimed first in the transaction, so a concurrent duplicate waits on it, fails, and runs again to replay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

from workflow.domain import commands as c
from workflow.domain.errors import ConcurrencyConflict, InvalidInput, RetryableConflict
from workflow.service.ports import Dependencies, UnitOfWork

REPLAY_ATTEMPTS = 5
_NOT_ASKED = ("actor", "idempotency_key")


@dataclass(frozen=True)
class Outcome:
    """What a unit of work produced: the result, whether it wrote anything, and work to do after commit."""

    result: dict[str, Any]
    wrote: bool = True
    after_commit: Callable[[], None] | None = None


Work = Callable[[UnitOfWork], Outcome]


def request_hash(command: c.Command) -> str:
    """A fingerprint of what was asked, so a replay with different content is told apart from a retry.

    Top-level fields are taken as they are and nested dataclasses expanded by the encoder: the same JSON that
    `asdict` would give (so stored fingerprints stay valid), without its deep copy of every value.
    """
    asked = {f.name: getattr(command, f.name) for f in fields(command) if f.name not in _NOT_ASKED}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=_plain).encode()).hexdigest()


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else str(value)


def run_idempotent(
    deps: Dependencies, command: c.Command, key: str, work: Work, fingerprint: str | None = None
) -> dict[str, Any]:
    """Run `work` once per key.

    A request that lost a race (a concurrent duplicate, a lock cycle, a quota taken under it) runs again from the
    start, and then replays or decides on fresh data.
    """
    fingerprint = fingerprint or request_hash(command)
    for _ in range(REPLAY_ATTEMPTS):
        try:
            return _attempt(deps, command, key, fingerprint, work)
        except RetryableConflict:
            continue
    raise ConcurrencyConflict("the request kept colliding with concurrent ones; try again")


def _attempt(deps: Dependencies, command: c.Command, key: str, fingerprint: str, work: Work) -> dict[str, Any]:
    with deps.uow() as uow:
        if key:
            stored = uow.idempotency.replay(key)
            if stored is not None:
                return replayed(stored, fingerprint)
            uow.idempotency.claim(key, command.actor.user_id, fingerprint)
        outcome = work(uow)
        if outcome.wrote:
            if key:
                uow.idempotency.record(key, outcome.result)
            uow.commit()
    if outcome.wrote and outcome.after_commit is not None:
        outcome.after_commit()
    return outcome.result


def replayed(stored: tuple[str, dict[str, Any]], fingerprint: str) -> dict[str, Any]:
    """The first request's stored result, marked as a replay.

    The same key with other content is refused; a claim with no result yet belongs to a request still running.
    """
    stored_hash, result = stored
    if stored_hash != fingerprint:
        # The stored key carries the caller's scope ("api:<user id>:..."): it is never shown back.
        raise InvalidInput("this Idempotency-Key was used for a different request", field="Idempotency-Key")
    if not result:
        raise ConcurrencyConflict(
            "the first request with this Idempotency-Key is still running; retry later", field="Idempotency-Key"
        )
    return {**result, "replayed": True}
