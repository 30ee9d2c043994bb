"""The project's sessions: a savepoint of a request's one transaction, or a unit of work's own connection.

Inside a request's one transaction (workflow/store/request_transaction.py) every session joins it through a
savepoint. Outside one, a unit of work's session keeps one connection of its own (`own_connection`): its statements
run on it, its transaction begun and ended on it, the ORM's own work (a flush, a `get`) taking that transaction as its
own. The session's transaction bookkeeping around every unit of work (a `SessionTransaction`, the connection's checkout
through it, its commit and close) cost about 5 % of an approval step's client CPU more than this
(docs/performance.md, session 18).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from workflow.store.request_transaction import request_connection


class RequestSession(Session):
    """A session of its own (on a connection it keeps, once asked), or in `one_transaction` a savepoint of that."""

    def __init__(self, bind: Any = None, **options: Any) -> None:
        joined = request_connection()
        if joined is not None:
            bind, options["join_transaction_mode"] = joined, "create_savepoint"
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
        if request_connection() is None and isinstance(self.bind, Engine):
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
