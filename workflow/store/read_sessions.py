"""Sessions that only read: on PostgreSQL their transaction is READ ONLY and ends in COMMIT, not ROLLBACK.

psycopg forgets every statement it prepared on a connection at each ROLLBACK (it cannot tell whether the transaction
created or dropped what a statement names), and sends DEALLOCATE ALL with it. A read that ended in one left nothing
prepared on its connection: the next request there, a page or a command, parsed and planned each statement again,
and a statement run fewer than five times between two such reads was never prepared at all. A transaction begun
READ ONLY can write nothing, so its COMMIT is exactly its ROLLBACK but for keeping what psycopg prepared. Setting it
costs no round trip: psycopg writes it into the BEGIN it sends with the first statement.

On SQLite the same option begins the transaction deferred (workflow/store/engine.py), so a reader never blocks a
writer, and the session ends as any other. Inside a request's one transaction (workflow/store/request_transaction.py)
a session is a savepoint of a transaction that writes: it reads there as it always did. A unit of work that only
reads (`SqlUnitOfWork.reading()`) begins and ends through the same two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from workflow.store.engine import READ_ONLY
from workflow.store.request_transaction import in_request_transaction

READ_ONLY_OPTIONS = {READ_ONLY: True, "postgresql_readonly": True}


def begin_reading(session: Session) -> Session:
    """Mark a new session's transaction as one that only reads (before its first statement)."""
    if not in_request_transaction():
        session.connection(execution_options=READ_ONLY_OPTIONS)
    return session


def end_reading(session: Session, error: BaseException | None = None) -> None:
    """Close a reading session: committed on PostgreSQL unless a statement failed (then rolled back, as before)."""
    try:
        if _commits(session, error):
            session.commit()
    except SQLAlchemyError:
        pass  # the connection was lost meanwhile: closing below rolls back what is left, as it always did
    finally:
        session.close()


def _commits(session: Session, error: BaseException | None) -> bool:
    if isinstance(error, SQLAlchemyError) or in_request_transaction():
        return False
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def reading(sessions: Callable[[], Session]) -> Iterator[Session]:
    """A session of its own that only reads (this module's docstring)."""
    session = begin_reading(sessions())
    try:
        yield session
    except BaseException as error:
        end_reading(session, error)
        raise
    end_reading(session)
