"""Outages of the database and the broker: which errors mean one, and one log line as each starts and ends.

A request that meets an outage is answered 503 with `Retry-After` (web/errors.py for the API, web/ui/views.py for
pages), never a 500 with a stack trace: the log says "database unavailable" once, and "database available again" once
a probe (at most one per second, only while something is down) reaches it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping

from apiflask import APIFlask
from flask import current_app
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as db
from sqlalchemy import text

from config.bootstrap import Container

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5  # a restart of PostgreSQL or Redis takes seconds; clients come back soon, not all at once
PROBE_INTERVAL_SECONDS = 1.0
BROKER_ERRORS = (BrokerOperationalError, RedisConnectionError, RedisTimeoutError)
# SQLSTATEs that mean "no usable connection": class 08 (connection exception), the server shutting down or starting
# up, or out of connection slots. A serialization failure or a deadlock (also OperationalError) is no outage.
UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
# SQLite (the embedded mode) says it by result code: busy past the timeout, or the file cannot be opened or read.
UNREACHABLE_SQLITE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def failing_part(error: BaseException) -> str | None:
    """The service `error` (or an error it was raised from) says cannot be reached: "database", "broker" or None."""
    for cause in _causes(error):
        if _database_unreachable(cause):
            return "database"
        if isinstance(cause, BROKER_ERRORS):
            return "broker"
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _database_unreachable(error: BaseException) -> bool:
    if isinstance(error, db.TimeoutError):
        return True  # the pool waited in vain for a connection to come back
    if not isinstance(error, db.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, db.OperationalError | db.InterfaceError):
        return False
    sqlite_code = getattr(error.orig, "sqlite_errorname", None)
    if sqlite_code is not None:
        return str(sqlite_code).startswith(UNREACHABLE_SQLITE)
    # A failed connect carries no SQLSTATE (libpq answers before any query runs): no state is an unreachable server.
    state = getattr(error.orig, "sqlstate", None)
    return state is None or str(state).startswith(UNREACHABLE_STATES)


def summary(error: BaseException) -> str:
    """One short line: the driver's own message, without SQLAlchemy's statement and background link."""
    inner = getattr(error, "orig", None) or error
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first[:200]}"


class OutageLog:
    """Which parts are down since when, logging the start and the end of each outage once (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()

    def down(self, part: str, error: BaseException, consequence: str) -> None:
        with self._lock:
            if part in self._since:
                return
            self._since[part] = self._clock()
        log.error("%s unavailable (%s); %s", part, summary(error), consequence)

    def up(self, part: str) -> None:
        with self._lock:
            since = self._since.pop(part, None)
        if since is not None:
            log.warning("%s available again after %.1f s", part, self._clock() - since)

    def down_parts(self) -> list[str]:
        with self._lock:
            return list(self._since)


class Outages:
    """The web's view of its services: an outage log, and probes that notice the end of an outage."""

    def __init__(self, probes: Mapping[str, Callable[[], object]], clock: Callable[[], float] = time.monotonic):
        self.log = OutageLog(clock)
        self._probes = probes
        self._clock = clock
        self._next_probe = 0.0
        self._lock = threading.Lock()

    def met(self, part: str, error: BaseException) -> None:
        self.log.down(part, error, f"answering 503 with Retry-After: {RETRY_AFTER_SECONDS} until it is back")

    def probe_if_due(self) -> None:
        """While a part is down, one request a second asks it again; the others go on untouched."""
        down = self.log.down_parts()
        if not down or not self._due():
            return
        for part in down:
            try:
                self._probes[part]()
            except Exception:  # noqa: BLE001 - still down: the outage's first line has said so already
                continue
            self.log.up(part)

    def _due(self) -> bool:
        with self._lock:
            now = self._clock()
            if now < self._next_probe:
                return False
            self._next_probe = now + PROBE_INTERVAL_SECONDS
            return True


def register(app: APIFlask, container: Container) -> None:
    outages = Outages({"database": lambda: _ping_database(container), "broker": lambda: _ping_broker(container)})
    app.extensions["specgoods_outages"] = outages
    app.before_request(outages.probe_if_due)


def met(part: str, error: BaseException) -> None:
    """Note that this request met an outage of `part` (logged once per outage)."""
    outages: Outages = current_app.extensions["specgoods_outages"]
    outages.met(part, error)


def _ping_database(container: Container) -> None:
    with container.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _ping_broker(container: Container) -> None:
    with container.celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
