"""Engine construction: SQLite gets foreign keys, WAL, a busy timeout and write-locking transactions.

PostgreSQL connections get a leaner JSONB loader: the audit-chain check reads two JSONB columns per event for a
million events, and json.loads re-detects the encoding of every value before decoding it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from workflow.store.sessions import RequestSession

SQLITE_BUSY_TIMEOUT_MS = 15_000
READ_ONLY = "specgoods_read_only"  # an execution option: this connection only reads
PG_CONNECT_TIMEOUT_S = 5


def make_engine(url: str, **options: Any) -> Engine:
    """One engine per process; nothing connects until the first query."""
    options.setdefault("hide_parameters", True)  # a failed statement's values (names, e-mails) never reach a log
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **options)
    # A database host that stops answering fails a new connection in seconds (a 503), not at the TCP timeout.
    options.setdefault("connect_args", {"connect_timeout": PG_CONNECT_TIMEOUT_S})
    engine = create_engine(url, pool_size=5, max_overflow=10, **options)
    event.listen(engine, "connect", _configure_postgres_connection)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


PING_AFTER_IDLE_S = 1.0  # a connection back in use within a second of its last use is not pinged again


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's pre-ping, only for a connection that sat idle: a restarted server is found before a request.

    A connection reused within the second (every one, under load) skips the round trip; one the server dropped
    is thrown away and the pool hands out another (DisconnectionError makes the pool retry).
    """
    idle = time.monotonic() - record.info.get("checked_in_at", time.monotonic())
    if idle < PING_AFTER_IDLE_S:
        return
    try:
        # Outside a transaction: the connection goes to its user idle, as the pool handed it out, so that user may
        # still choose how it runs (an autocommit read, workflow/store/accounts.py).
        was = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute("SELECT 1")
        finally:
            dbapi_connection.autocommit = was
    except psycopg.Error as lost:
        raise DisconnectionError(str(lost)) from lost


_JSON = json.JSONDecoder()


def _load_json(data: str | bytes) -> Any:
    """PostgreSQL always sends UTF-8: decode once and parse, skipping json.loads's encoding detection."""
    return _JSON.decode(data if isinstance(data, str) else bytes(data).decode("utf-8"))


def _configure_postgres_connection(dbapi_connection: Any, _record: object) -> None:
    set_json_loads(_load_json, dbapi_connection)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # RequestSession joins a request's one transaction when there is one (workflow/store/sessions.py).
    return sessionmaker(engine, class_=RequestSession, expire_on_commit=False)


def _sqlite_engine(url: str, **options: Any) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write, which lets two read-then-write
    # transactions deadlock into "database is locked"; we take over and emit BEGIN IMMEDIATE ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # Readers that ask for it (the audit-chain check) begin deferred: under WAL they never block the writers.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
