"""Fixed statements run on the driver's connection, not through SQLAlchemy's execution (PostgreSQL).

Every state change ends in one statement of ours (workflow/store/together.py): its text is built once and its
parameters are plain values, so SQLAlchemy has nothing to compile, type or convert. Its execution still cost more
client CPU than psycopg's own: a new execution context, the parameters processed, and — for a textual statement,
whose columns SQLAlchemy cannot know ahead — the result's column metadata built anew from the cursor on every run.
Measured on one such statement, about 250 µs of the client's CPU through SQLAlchemy against about 110 µs on the
driver (docs/performance.md, session 14); a declaration sends two, each approval step one, besides its reads.

The same holds for a Core statement built once and kept (at import, or cached per shape) whose text does not change
at execution: `plain_rows` runs it on the driver too, its text compiled once. Each parameter whose type SQLAlchemy
converts on the way in (a quantity scaled to ten-thousandths, an array of them) is converted by that type's own
bind processor, and each column with a result processor by that processor on the way out (ten-thousandths back into
a Decimal), as SQLAlchemy's execution would. A statement whose text is rendered per run (an expanding IN) and
any statement on SQLite go through SQLAlchemy's execution. Either way a row reads by position and by column name,
as SQLAlchemy's rows do.

What SQLAlchemy's execution does that matters is kept here:
- the statement runs on the session's connection, in its transaction (nothing begins or ends here);
- the engine's `before_cursor_execute` and `after_cursor_execute` listeners see it, as they see every statement
  (the benchmarks and tests that count or record statements keep doing so);
- a driver error comes out as SQLAlchemy's exception of the same kind (IntegrityError, OperationalError, …, with
  the driver's error as `orig` and the parameters hidden as the engine hides them), after the connection is
  invalidated if the error says the server is gone, so callers, retries and the web's outage answers are unchanged;
  a value a type's bind processor refuses is SQLAlchemy's StatementError, as there.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg.pq import ExecStatus
from sqlalchemy import Connection, Executable, TextClause
from sqlalchemy.exc import DBAPIError

Convert = Callable[[Any], Any]
_ROWS_RETURNED = ExecStatus.TUPLES_OK
_CURSORS = "specgoods.driver_cursors"  # the key of the kept cursors, by statement, in the pooled connection's info
MOST_CURSORS = 256  # a connection's kept cursors: well above the statements run on the driver, so a bound only


@dataclass(frozen=True)
class _Plan:
    """A statement as the driver runs it: its text, its own values, and SQLAlchemy's conversions of its values."""

    sql: str
    row: Callable[..., tuple[Any, ...]]  # a row by position and by column name
    conversions: tuple[Convert | None, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)  # the statement's own values (a literal's), converted
    binds: Mapping[str, Convert] = field(default_factory=dict)  # by parameter, how SQLAlchemy converts its value


# By the statement's identity (each is built once and kept, so its id stays its own): how the driver runs it, or
# None when SQLAlchemy's execution must.
_plans: dict[int, tuple[Executable, _Plan | None]] = {}


def first_row(connection: Connection, statement: TextClause, parameters: Mapping[str, Any]) -> Any:
    """Our own textual `statement`'s first row, or None when it returned none (PostgreSQL: on the driver)."""
    assert connection.dialect.name == "postgresql", "the driver's own execution is PostgreSQL's (psycopg) here"
    rows = plain_rows(connection, statement, parameters)
    return rows[0] if rows else None


def plain_rows(connection: Connection, statement: Executable, parameters: Mapping[str, Any]) -> list[Any]:
    """Every row of `statement`, valued and named as SQLAlchemy's execution gives them."""
    plan = _plan(connection, statement) if connection.dialect.name == "postgresql" else None
    if plan is None:
        return list(connection.execute(statement, parameters))
    rows = _on_driver(connection, plan.sql, _bound(connection, plan, parameters))
    if plan.conversions:
        rows = [_converted(row, plan.conversions) for row in rows]
    return [plan.row(*row) for row in rows]


def _bound(connection: Connection, plan: _Plan, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The values the driver gets: the statement's own, and the caller's each converted as SQLAlchemy would."""
    values = {**plan.fixed, **parameters}
    if not plan.binds:
        return values
    try:
        for name in plan.binds.keys() & parameters.keys():
            values[name] = plan.binds[name](values[name])
    except Exception as error:  # a value the type refuses (a quantity finer than its scale): StatementError, as there
        raise _as_sqlalchemy_error(connection, error, plan.sql, values, None) from error
    return values


def _converted(row: tuple[Any, ...], conversions: tuple[Convert | None, ...]) -> tuple[Any, ...]:
    return tuple(value if convert is None else convert(value) for value, convert in zip(row, conversions, strict=True))


def _on_driver(connection: Connection, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    cursor = _cursor(connection, sql)
    for before in connection.dispatch.before_cursor_execute:
        sql, values = before(connection, cursor, sql, values, None, False)
    try:
        cursor.execute(sql, values)
        # Whether rows came back, from the result's status: `cursor.description` would build a column object per
        # column on every run (33 per declaration).
        returned = cursor.pgresult is not None and cursor.pgresult.status == _ROWS_RETURNED
        rows = cursor.fetchall() if returned else []
    except connection.dialect.loaded_dbapi.Error as error:
        raise _as_sqlalchemy_error(connection, error, sql, values, cursor) from error
    for after in connection.dispatch.after_cursor_execute:
        after(connection, cursor, sql, values, None, False)
    return rows


def _cursor(connection: Connection, sql: str) -> Any:
    """The driver connection's own cursor for this statement, made once and kept with it.

    psycopg keeps what it looked up for a statement (each parameter's dumper, each column's loader) only while a
    cursor runs the same statement again: a cursor shared by every statement made them anew whenever the statement
    changed, which on a lifecycle step is every time (JSON loaders are Python objects, built per column). Measured
    on three alternating statements: 107–114 µs of client CPU per run with a cursor each, 120–124 µs sharing one;
    on a four-column SELECT, 57–62 µs on a kept cursor against 76–87 µs with a new cursor per run. `sql` is the
    plan's own text, the same object on every run, which is what psycopg compares.

    Kept in the pool's record of the connection, whose `info` SQLAlchemy clears when it replaces the connection
    (after an invalidation, or on recycling): a new connection starts with new cursors.
    """
    pooled = connection.connection
    cursors = pooled.info.get(_CURSORS)
    if cursors is None:
        cursors = pooled.info[_CURSORS] = {}
    cursor = cursors.get(sql)
    if cursor is None:
        if len(cursors) >= MOST_CURSORS:  # statements built per run would otherwise keep a cursor each forever
            for kept in cursors.values():
                kept.close()
            cursors.clear()
        driver = pooled.driver_connection
        assert driver is not None, "a live connection has its driver connection"
        cursor = cursors[sql] = driver.cursor()
    return cursor


def _plan(connection: Connection, statement: Executable) -> _Plan | None:
    """The statement in the driver's parameter style (`%(name)s`, a literal % doubled), compiled once.

    None if SQLAlchemy renders part of it per run (an expanding IN), whose own execution must then run it.
    """
    found = _plans.get(id(statement))
    if found is None or found[0] is not statement:
        compiled = statement.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
        found = _plans[id(statement)] = (statement, _plan_of(compiled))
    return found[1]


def _plan_of(compiled: Any) -> _Plan | None:
    dialect = compiled.dialect
    if getattr(compiled, "post_compile_params", None) or getattr(compiled, "literal_execute_params", None):
        return None
    binds = {name: bind.type._cached_bind_processor(dialect) for name, bind in compiled.binds.items()}
    binds = {name: convert for name, convert in binds.items() if convert is not None}
    columns = getattr(compiled, "_result_columns", None) or ()
    conversions = tuple(column[3]._cached_result_processor(dialect, None) for column in columns)
    own = {name: value for name, value in compiled.construct_params(_check=False).items() if value is not None}
    fixed = {name: binds[name](value) if name in binds else value for name, value in own.items()}
    row = _row_type([column[0] for column in columns])
    return _Plan(str(compiled), row, conversions if any(conversions) else (), fixed, binds)


def _row_type(names: list[str]) -> Callable[..., tuple[Any, ...]]:
    """A named tuple of the statement's columns; a plain tuple for a textual statement, whose columns are not known."""
    if not names:
        return lambda *values: values
    return namedtuple("Row", names, rename=True)


def _as_sqlalchemy_error(
    connection: Connection, error: Any, sql: str, values: dict[str, Any], cursor: Any
) -> BaseException:
    """The error as SQLAlchemy would have raised it; a connection the server dropped is not handed out again."""
    dialect = connection.dialect
    gone = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if gone:
        connection.invalidate(error)
    translated = DBAPIError.instance(
        sql,
        values,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=connection.engine.hide_parameters,
        connection_invalidated=gone,
        dialect=dialect,
    )
    assert isinstance(translated, BaseException)
    return translated
