"""One database transaction around a whole request: every session opened meanwhile joins it through a savepoint.

An idempotent API request runs its work and stores its response in this one transaction, so whatever dies when, the
change and the key's response are committed together or not at all (docs/api/README.md, "Idempotency"). Units of
work keep their own commit and rollback (a savepoint each); what they would do after commit (relaying the outbox)
waits until the request's transaction has really committed.

The sessions that join it are workflow/store/sessions.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

Step = Callable[[str], None]


def no_fault(step: str) -> None:
    """The production fault hook: every step goes on. Tests pass one that dies at a chosen step."""


@dataclass
class RequestTransaction:
    connection: Connection
    reached: Step = no_fault  # called with the name of each step passed, so a test can crash the process there
    deferred: list[Callable[[], object]] = field(default_factory=list)


_CURRENT: ContextVar[RequestTransaction | None] = ContextVar("specgoods_request_transaction", default=None)


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


def request_connection() -> Connection | None:
    """The connection of the request's transaction, while there is one: a session opened now joins it."""
    current = _CURRENT.get()
    return None if current is None else current.connection


def in_request_transaction() -> bool:
    """True inside `one_transaction`: every session opened now is a savepoint of the request's transaction."""
    return _CURRENT.get() is not None


def step(name: str) -> None:
    """Tell the current request's fault hook that a step has passed (nothing outside a request's transaction)."""
    current = _CURRENT.get()
    if current is not None:
        current.reached(name)
