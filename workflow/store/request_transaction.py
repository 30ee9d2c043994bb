"""One database transaction around a whole request: every session opened meanwhile joins it through a savepoint.

An idempotent API request runs its work and stores its response in this one transaction, so whatever dies when, the
change and the key's response are committed together or not at all (docs/api/README.md, "Idempotency"). Units of
work keep their own commit and rollback (a savepoint each); what they would do after commit (relaying the outbox)
waits until the request's transaction has really committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

Step = Callable[[str], None]


def no_fault(step: str) -> None:
    """The production fault hook: every step goes on. Tests pass one that dies at a chosen step."""


@dataclass
class RequestTransaction:
    connection: Connection
    reached: Step = no_fault  # called with the name of each step passed, so a test can crash the process there
    deferred: list[Callable[[], object]] = field(default_factory=list)


_CURRENT: ContextVar[RequestTransaction | None] = ContextVar("specgoods_request_transaction", default=None)


class RequestSession(Session):
    """A session of its own, or, inside `one_transaction`, a savepoint of the request's transaction."""

    def __init__(self, bind: Any = None, **options: Any) -> None:
        current = _CURRENT.get()
        if current is not None:
            bind, options["join_transaction_mode"] = current.connection, "create_savepoint"
        super().__init__(bind=bind, **options)


@contextmanager
def one_transaction(engine: Engine, reached: Step = no_fault) -> Iterator[RequestTransaction]:
    """The request's transaction: committed if the block ends normally, rolled back if it raises (or the process dies).

    Work deferred meanwhile runs after the commit, outside the transaction.
    """
    transaction = RequestTransaction(engine.connect(), reached)
    token = _CURRENT.set(transaction)
    try:
        with transaction.connection.begin():
            reached("began")
            yield transaction
    finally:
        _CURRENT.reset(token)
        transaction.connection.close()
    reached("committed")
    for callback in transaction.deferred:
        callback()


def after_commit(callback: Callable[[], object]) -> None:
    """Run `callback` now that a unit of work committed, or, inside a request's transaction, once that commits."""
    current = _CURRENT.get()
    if current is None:
        callback()
    else:
        current.deferred.append(callback)


def in_request_transaction() -> bool:
    """True inside `one_transaction`: every session opened now is a savepoint of the request's transaction."""
    return _CURRENT.get() is not None


def step(name: str) -> None:
    """Tell the current request's fault hook that a step has passed (nothing outside a request's transaction)."""
    current = _CURRENT.get()
    if current is not None:
        current.reached(name)
