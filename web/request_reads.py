"""One read session for the whole of a GET: a page's reads and parts, or an API read and its visibility check.

A page used to open a short session for each of them (visibility, the main reads, the header, each included part),
and so did an API read and its visibility check; every session costs a pool checkout, a BEGIN and an end on top of
its statements. On a GET or HEAD the first `request_reads()` opens a session that every later one of the same request
joins, and the request's end closes it. It only reads, in one transaction: on PostgreSQL (READ COMMITTED) each
statement reads what is committed when it runs, as a session of its own would, and the transaction is READ ONLY and
ends in COMMIT, which keeps the statements psycopg prepared on the connection (workflow/store/read_sessions.py); on
SQLite it begins deferred, so writers are never blocked by a page being drawn. Not in autocommit, which would save
the BEGIN and the end: tried, the applicant's `?before=` list read 4–5 times slower from about the tenth request on a
connection (psycopg prepares a statement after five runs; outside a transaction PostgreSQL then seemed to keep a
poor generic plan). In the READ ONLY transaction that ends in COMMIT the page's statements are prepared too, and
that list kept its speed (docs/performance.md, session 13).

Any other method (a form post, whose refusal draws the page again after the bus wrote or rolled back; an API
command's visibility check and its re-read of what it wrote) gets a reading session of its own for each block:
nothing read there is held across a write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, g, has_request_context, request
from sqlalchemy.orm import Session

from web.context import container
from workflow.store.read_sessions import begin_reading, end_reading, reading

_KEY = "specgoods_request_reads"
_KEPT = "specgoods_kept_rows"
READING = ("GET", "HEAD")


@contextmanager
def request_reads() -> Iterator[Session]:
    """The request's read session (GET, HEAD), or a short reading session of its own (any other method)."""
    if not (has_request_context() and request.method in READING):
        with reading(container().sessions) as session:
            yield session
        return
    found: Session | None = g.get(_KEY)
    if found is None:
        found = begin_reading(container().sessions())
        setattr(g, _KEY, found)
    try:
        yield found
    except BaseException as error:
        _drop(error)  # a failed statement spoils the transaction: the error page's header reads in a fresh one
        raise


def keep_for_the_page(session: Session, row: object) -> None:
    """Hold a row read early (the visibility check's) for as long as the session lives.

    The session's identity map only holds rows weakly: without this, the row is gone when the function that read
    it returns, and the page's own `session.get` of it reads it again.
    """
    session.info.setdefault(_KEPT, []).append(row)


def _drop(error: BaseException | None) -> None:
    found: Session | None = g.pop(_KEY, None)
    if found is not None:
        end_reading(found, error)


def register(app: Flask) -> None:
    """The request's end closes its read session, whatever the page answered (a 404 or a 500 too)."""

    @app.teardown_request
    def _close(error: BaseException | None) -> None:
        _drop(error)
