"""One database transaction around a whole request: every session opened meanwhile joins it through a savepoint.

An idempotent API request runs its work and stores its response in this one transaction, so whatever dies when, the
change and the key's response are committed together or not at all (docs/api/README.md, "Idempotency"). Units of
work keep their own commit and rollback (a savepoint each); what they would do after commit (relaying the outbox)
waits until the request's transaction has really committed.

Outside a request's transaction a unit of work's session keeps one connection of its own (`own_connection`): its
statements run on it, its transaction begun and ended on it, the ORM's own work (a flush, a `get`) joining that
transaction. The session's transaction bookkeeping around every unit of work (begin, the connection's checkout
through it, commit, close) cost about 5 % of an approval step's client CPU more than this (docs/performance.md).
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
        self._engine: Engine | None = None  # set by `own_connection`: the connection is checked out from it
        self._own: Connection | None = None

    def own_connection(self) -> None:
        """From now on every statement of this session runs on one connection it checks out at the first.

        `connection()` hands it out in its transaction, begun there when none is open. The ORM's own work (a flush,
        a `get`) takes that transaction as its own ("control_fully"), so a commit or rollback of the session ends it
        as it would its own; without any, the session's transaction events (which tasks/completion.py listens to)
        fire here around the connection's begin, commit and rollback as the session would fire them. Inside a
        request's transaction nothing changes: the session is a savepoint of that one.
        """
        if _CURRENT.get() is None and isinstance(self.bind, Engine):
            self._engine, self.join_transaction_mode = self.bind, "control_fully"

    def _connection(self) -> Connection:
        if self._own is None:
            assert self._engine is not None
            self._own = self._engine.connect()
        return self._own

    def get_bind(self, *args: Any, **kw: Any) -> Any:
        return self._connection() if self._engine is not None else super().get_bind(*args, **kw)

    def connection(self, bind_arguments: Any = None, execution_options: Any = None) -> Connection:
        if self._engine is None or bind_arguments is not None or execution_options is not None:
            return super().connection(bind_arguments, execution_options)
        own = self._connection()
        if not own.in_transaction():
            own.begin()
            self.dispatch.after_begin(self, None, own)
        return own

    def commit(self) -> None:
        own = self._own
        if self._engine is None or self.in_transaction():  # an add, a change or a read of the ORM's begins one
            if own is not None and own.in_transaction():
                # A session transaction begun without a statement (an `add`) may hold no connection yet: made to take
                # the connection's transaction now, its commit ends that one too, whatever it has to flush.
                super().connection()
            super().commit()  # the ORM's transaction, which is the connection's: its events, flush and commit
        elif own is not None and own.in_transaction():
            self.dispatch.before_commit(self)
            own.commit()
            self.dispatch.after_commit(self)

    def rollback(self) -> None:
        super().rollback()
        own = self._own
        if own is not None and own.in_transaction():
            own.rollback()
            self.dispatch.after_rollback(self)

    def close(self) -> None:
        super().close()
        own, self._own = self._own, None
        if own is not None:
            own.close()  # back to the pool, rolled back if a transaction was left open


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
