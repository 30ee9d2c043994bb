"""Rows for several tables in one statement: what a transaction writes last, in one round trip before its commit.

Every state change ends the same way: its audit events, its dashboard count deltas and its outbox rows are
inserted, then the transaction commits. As three INSERTs that is three round trips, three executions through the
driver and three statements for the server to bind and run; on the short transactions of a lifecycle step they
were a third of its statements. On PostgreSQL they go as one statement of data-modifying CTEs, each table's rows
passed as one JSON array and unpacked by `json_populate_recordset` into the table's own row type, so the server
converts every value with the column's own input function. The text depends only on which tables and columns are
written, so it is prepared once per connection whatever the number of rows, and it runs on the driver's connection
with no SQLAlchemy execution around it (workflow/store/driver_statements.py).

The same statement carries what else a caller writes together: rows whose ids it needs back (outbox rows), in the
order given — each row draws its id from the table's sequence beside its ordinal in the array, in a CTE the
statement reads twice (so PostgreSQL materialises it and `nextval` runs once per row); rows staged earlier in the
transaction to go with the next such statement (a declaration and its lines, whose ids were drawn ahead with its
certificate's read; its receipts and its lines' new heads); rows updated by id; one aggregate's version-guarded
UPDATE, whose miss raises the same ConcurrencyConflict as an UPDATE of its own; and one statement of the caller's
own whose row comes back (a declaration's guarded draw on its line, `insert_returning`).

It also carries rows an INSERT … SELECT makes of what a caller asked for and the rows that reaches (`Fanned`): the
notifications of a step, one per active user of an enterprise or per officer of a district's role, found by the
statement that writes them (workflow/store/notifications.py). Those the caller wants e-mailed each get an outbox row
naming the new notification, drawn from the sequence beside it in the same statement, and their ids come back for
the relay. Asked as statements of their own, they were a quarter of the approval flow's statements.

Elsewhere (SQLite), for a single table, or for a batch's many rows, each table keeps its own statement
(workflow/store/bulk.py); a batch's notices then go in a combined statement of their own. On SQLite nothing is asked
to ride along: the notifications are written as they are asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Column, Connection, Dialect, Table, TextClause, bindparam, text, update
from sqlalchemy.orm import Session

from workflow.domain.errors import ConcurrencyConflict
from workflow.store.bulk import column_layout, column_reading, insert_rows, insert_rows_returning_ids
from workflow.store.driver_statements import first_row

# A batch's hundreds of rows go the usual way: COPY beats one large JSON document there (workflow/store/bulk.py).
MOST_ROWS_TOGETHER = 64


@dataclass(frozen=True)
class TableRows:
    """Rows for one mapped table, all naming the same columns."""

    mapped: type[Any]
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class GuardedRow:
    """An aggregate's version-guarded UPDATE: the columns it sets, on its row, if the row is still the version read."""

    mapped: Any  # the mapped class
    row_id: int
    read_version: int
    values: Mapping[str, Any]

    def row(self) -> dict[str, Any]:
        """The row as the statement writes it: its values, its id and the next version."""
        return {**self.values, "id": self.row_id, "version": self.read_version + 1}


_STAGED = "specgoods.staged_rows"  # Session.info key: rows waiting for the transaction's next combined statement


@dataclass
class Staged:
    """Rows to insert (a row before the rows that refer to it) and rows to update by id, in the order staged."""

    inserts: list[TableRows] = field(default_factory=list)
    updates: list[TableRows] = field(default_factory=list)


def stage(session: Session, rows: TableRows, updating: bool = False) -> None:
    """Rows whose ids are known already, written with the unit of work's next combined statement.

    That is its ledger entries' statement or its commit's: the staged rows cost no round trip of their own.
    """
    if rows.rows:
        staged = session.info.setdefault(_STAGED, Staged())
        (staged.updates if updating else staged.inserts).append(rows)


def take_staged(session: Session) -> Staged:
    """The staged rows, now to be written (or dropped, on rollback)."""
    staged: Staged = session.info.pop(_STAGED, None) or Staged()
    return staged


@dataclass(frozen=True)
class Returning:
    """A statement of the caller's among the CTEs (an UPDATE … RETURNING of one row): its row comes back as a dict.

    `sql` is fixed per caller (it is part of the statement's text, prepared once), with `:named` parameters. Its
    `{written}` stands for a condition that is always true but reads every insert of the statement: PostgreSQL runs
    a data-modifying CTE nobody reads after the rest, so an UPDATE that takes a hot row's lock would otherwise hold
    it while the inserts run; with the condition in its WHERE they are done before it looks at a row.
    """

    sql: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class Fanned:
    """Rows an INSERT … SELECT makes of asks and the rows they reach (a notice to each active user of an enterprise).

    `select` is fixed per caller (part of the statement's text, prepared once): it reads the asks, one JSON array, as
    `{asks}`, and gives `columns` in order, in the order the new rows should take their ids. With `copy` (one row of
    another table, the same for every new row: an e-mail copy's outbox row), each new row gets its own, `copy_key` in
    the copy's JSON `payload` naming the new row's id. `keyed`: a row whose unique key is taken (a concurrent copy of
    the change wrote it) is left alone, ON CONFLICT DO NOTHING; such rows get no copy.
    """

    mapped: type[Any]
    columns: tuple[str, ...]
    select: str
    asks: Sequence[Mapping[str, Any]]
    copy: TableRows | None = None
    copy_key: str = ""
    keyed: bool = False


@dataclass(frozen=True)
class Written:
    """The new ids of the rows asked back, and per `Fanned` part its copies as (copy id, new row id), in id order."""

    ids: list[int]
    copies: list[list[tuple[int, int]]]


def update_if_version(connection: Connection, guarded: GuardedRow) -> None:
    """UPDATE … WHERE id = ? AND version = ?: of two concurrent writers exactly one matches a row."""
    parameters = {f"v_{name}": value for name, value in guarded.values.items()}
    parameters |= {"g_id": guarded.row_id, "g_version": guarded.read_version, "g_next": guarded.read_version + 1}
    statement = _version_guarded(guarded.mapped, tuple(guarded.values))
    if connection.execute(statement, parameters).rowcount != 1:
        raise _conflict(guarded)


@cache
def _version_guarded(mapped: Any, names: tuple[str, ...]) -> Any:
    """Built once per table and set of columns: every save is then a compiled-cache hit, not a new expression."""
    return (
        update(mapped.__table__)
        .where(mapped.id == bindparam("g_id"), mapped.version == bindparam("g_version"))
        .values({name: bindparam(f"v_{name}") for name in names} | {"version": bindparam("g_next")})
    )


def _conflict(guarded: GuardedRow) -> ConcurrencyConflict:
    table = guarded.mapped.__tablename__
    return ConcurrencyConflict(f"{table} {guarded.row_id} was changed by someone else; reload it")


def insert_together(
    connection: Connection,
    plain: Sequence[TableRows],
    with_ids: TableRows | None,
    guarded: GuardedRow | None = None,
    updates: Sequence[TableRows] = (),
) -> list[int]:
    """Insert every table's rows; the new ids of `with_ids`' rows, in their order (none when it is None or empty).

    A `guarded` row is updated only if its version is still the one read: otherwise ConcurrencyConflict (the caller
    rolls back). Each row of `updates` sets the columns it names on the row with its `id`.
    """
    return write_together(connection, plain, with_ids, guarded, updates).ids


def write_together(
    connection: Connection,
    plain: Sequence[TableRows],
    with_ids: TableRows | None,
    guarded: GuardedRow | None = None,
    updates: Sequence[TableRows] = (),
    fanned: Sequence[Fanned] = (),
) -> Written:
    """`insert_together`, and the `fanned` rows with their copies (PostgreSQL only: elsewhere nothing is fanned)."""
    assert not fanned or connection.dialect.name == "postgresql", "fanned rows ride PostgreSQL's combined statement"
    fans = [fan for fan in fanned if fan.asks]
    combined = _combined(connection, plain, with_ids, guarded, updates, fanned=fans)
    if combined is None:
        ids = _apart(connection, *_present(plain, with_ids, updates), guarded)
        alone = _build(connection, (), None, None, (), None, fans) if fans else None
        return Written(ids, _copies_of(fanned, _run(connection, alone, None)[3] if alone else []))
    ids, _, _, copies = _run(connection, combined, guarded)
    return Written([int(new_id) for new_id in ids or []], _copies_of(fanned, copies))


def _copies_of(
    fanned: Sequence[Fanned], copies: Sequence[Sequence[Sequence[int]]] | None
) -> list[list[tuple[int, int]]]:
    """The statement's copies came back for the parts with asks only: an empty list for each of the others."""
    returned = iter(copies or [])
    return [[(int(copy), int(of)) for copy, of in next(returned)] if fan.asks else [] for fan in fanned]


def insert_returning(
    connection: Connection, plain: Sequence[TableRows], returning: Returning, updates: Sequence[TableRows] = ()
) -> dict[str, Any] | None:
    """PostgreSQL: every table's rows and the caller's statement, in one; the row that statement returned, if any."""
    combined = _combined(connection, plain, None, None, updates, returning)
    assert combined is not None, "insert_returning is for PostgreSQL"
    _, _, returned, _ = _run(connection, combined, None)
    return dict(returned) if returned is not None else None


def _run(
    connection: Connection, combined: tuple[TextClause, dict[str, Any]], guarded: GuardedRow | None
) -> tuple[Any, ...]:
    row = first_row(connection, *combined)  # one row always: the statement ends in a SELECT of four values
    assert row is not None
    ids, held, returned, copies = row
    if guarded is not None and not held:
        raise _conflict(guarded)
    return ids, held, returned, copies


def _present(
    plain: Sequence[TableRows], with_ids: TableRows | None, updates: Sequence[TableRows]
) -> tuple[list[TableRows], TableRows | None, list[TableRows]]:
    """The tables that have rows: the others are left out of the statement."""
    parts = [part for part in plain if part.rows]
    wanted = with_ids if with_ids is not None and with_ids.rows else None
    return parts, wanted, [change for change in updates if change.rows]


def _combined(
    connection: Connection,
    plain: Sequence[TableRows],
    with_ids: TableRows | None,
    guarded: GuardedRow | None,
    updates: Sequence[TableRows],
    returning: Returning | None = None,
    fanned: Sequence[Fanned] = (),
) -> tuple[TextClause, dict[str, Any]] | None:
    """The one statement and its parameters; None where each table keeps its own statement.

    That is SQLite, a lone table (its rows are cheaper as its own INSERT), or a batch's many rows — unless the
    caller's own statement must go with the rows. (A batch's fanned rows then go alone: `write_together`.)
    """
    parts, wanted, changes = _present(plain, with_ids, updates)
    tables = len(parts) + (wanted is not None) + (guarded is not None) + len(changes) + (returning is not None)
    rows = sum(len(part.rows) for part in [*parts, *([wanted] if wanted else []), *changes])
    rows += sum(len(fan.asks) for fan in fanned)
    apart = tables + len(fanned) < 2 or rows > MOST_ROWS_TOGETHER
    if connection.dialect.name != "postgresql" or (apart and returning is None):
        return None
    return _build(connection, parts, wanted, guarded, changes, returning, fanned)


def _build(
    connection: Connection,
    parts: Sequence[TableRows],
    wanted: TableRows | None,
    guarded: GuardedRow | None,
    changes: Sequence[TableRows],
    returning: Returning | None,
    fanned: Sequence[Fanned],
) -> tuple[TextClause, dict[str, Any]]:
    """The statement of the parts that have rows, and its parameters."""
    layouts = tuple(_layout(connection, part) for part in parts)
    last = _layout(connection, wanted) if wanted else None
    parameters: dict[str, Any] = {f"rows{n}": _as_json(layouts[n], part.rows) for n, part in enumerate(parts)}
    if wanted is not None and last is not None:
        parameters["returning"] = _as_json(last, wanted.rows)
    setting = tuple(_layout(connection, change, inserting=False) for change in changes)
    parameters |= {f"set{n}": _as_json(setting[n], change.rows) for n, change in enumerate(changes)}
    guard = None
    if guarded is not None:
        guard = _layout(connection, TableRows(guarded.mapped, [guarded.row()]), inserting=False)
        parameters |= {"guarded": _as_json(guard, [guarded.row()])[1:-1], "read_version": guarded.read_version}
    if returning is not None:
        parameters |= returning.parameters
    fans = tuple(_fan(connection, fan) for fan in fanned)
    for n, fan in enumerate(fanned):
        parameters[f"fan{n}"] = _json(fan.asks)
        if fan.copy is not None:
            parameters[f"copy{n}"] = _as_json(_layout(connection, fan.copy), fan.copy.rows[:1])[1:-1]
    return _statement(layouts, last, guard, setting, returning.sql if returning else None, fans), parameters


def _apart(
    connection: Connection,
    parts: Sequence[TableRows],
    wanted: TableRows | None,
    changes: Sequence[TableRows],
    guarded: GuardedRow | None,
) -> list[int]:
    """One statement per table (COPY for many rows): SQLite, a single table, or a batch's many rows."""
    if guarded is not None:
        update_if_version(connection, guarded)
    for part in parts:
        insert_rows(connection, part.mapped, part.rows)
    ids = insert_rows_returning_ids(connection, wanted.mapped, wanted.rows) if wanted else []
    for change in changes:
        table = change.mapped.__table__
        names = [key for key in change.rows[0] if key != "id"]
        by_id = update(table).where(table.c.id == bindparam("row_id")).values({key: bindparam(key) for key in names})
        connection.execute(by_id, [{**row, "row_id": row["id"]} for row in change.rows])
    return ids


@dataclass(frozen=True, eq=False)  # one per table and set of keys (`_layout_of` is cached): compared by identity
class _Layout:
    """A table and the columns its rows give (and those with a client-side default), with how each value is read.

    Most columns' values go as they are (`as_is`: the column's name, the row's key, the default); the few whose type
    processes a value on the way in (`processed`) also carry that processing. Reading the two apart spares a
    function call per value on every commit.
    """

    table: Table
    columns: tuple[Column[Any], ...]
    as_is: tuple[tuple[str, str, Any], ...]
    processed: tuple[tuple[str, str, Any, Callable[[Any], Any]], ...]


@dataclass(frozen=True)
class _Fan:
    """What of a `Fanned` part the statement's text depends on: never its asks."""

    table: str
    columns: tuple[str, ...]
    select: str
    keyed: bool
    copy: _Layout | None
    copy_key: str


def _fan(connection: Connection, fanned: Fanned) -> _Fan:
    assert not (fanned.keyed and fanned.copy), "a row left alone would still get its copy"
    copy = _layout(connection, fanned.copy) if fanned.copy is not None else None
    table = fanned.mapped.__table__.name
    return _Fan(table, fanned.columns, fanned.select, fanned.keyed, copy, fanned.copy_key)


def _layout(connection: Connection, part: TableRows, inserting: bool = True) -> _Layout:
    """An insert also writes the columns with a client-side default; an update only the columns its rows name."""
    return _layout_of(connection.dialect, part.mapped.__table__, frozenset(part.rows[0]), inserting)


@cache
def _layout_of(dialect: Dialect, table: Table, keys: frozenset[str], inserting: bool) -> _Layout:
    """Worked out once per table and set of keys: every commit then only converts values."""
    if inserting:
        columns = tuple(column_layout(table, dict.fromkeys(keys)))
    else:
        columns = tuple(column for column in table.columns if column.key in keys)
    readings = [(column.name, *column_reading(dialect, column, json_as_is=True)) for column in columns]
    as_is = tuple((name, key, default) for name, key, default, process in readings if process is None)
    processed = tuple((name, key, default, process) for name, key, default, process in readings if process is not None)
    return _Layout(table, columns, as_is, processed)


def _as_json(layout: _Layout, rows: Sequence[Mapping[str, Any]]) -> str:
    return _json([_object(layout, row) for row in rows])


def _object(layout: _Layout, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row as the statement's JSON names it: by column name, each value as its column's type sends it."""
    found = {name: row.get(key, default) for name, key, default in layout.as_is}
    for name, key, default, process in layout.processed:
        value = row.get(key, default)
        found[name] = value if value is None else process(value)
    return found


def _json(value: Any) -> str:
    """One JSON document, by orjson: it writes timestamps and dates in ISO form itself.

    On a declaration's three audit events it takes 2 µs against the standard library's 17 (docs/performance.md).
    What orjson refuses (an integer beyond 64 bits) goes through the standard library, as every value did before.
    NaN would be written as null (the standard library's NaN was refused by PostgreSQL): no column value is a float.
    """
    try:
        return orjson.dumps(value, default=_decimal, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, default=_plain, separators=(",", ":"))


def _decimal(value: Any) -> str:
    """Exact decimals as strings; anything else is no column value."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


def _plain(value: Any) -> Any:
    """Timestamps (naive UTC, as every column stores them) and dates in ISO form; exact decimals as strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _decimal(value)


@cache
def _statement(
    layouts: tuple[_Layout, ...],
    last: _Layout | None,
    guard: _Layout | None,
    setting: tuple[_Layout, ...] = (),
    returning: str | None = None,
    fans: tuple[_Fan, ...] = (),
) -> TextClause:
    """One CTE per table; one row back: `last`'s new ids, whether the guard held, the own row, the fanned copies."""
    read = returning is not None
    ctes = [_plain_insert(f"w{index}", layout, f"rows{index}", read) for index, layout in enumerate(layouts)]
    ids = "NULL::bigint[]"
    if last is not None:
        names = _names(last)
        ctes.append(
            f"drawn AS (SELECT nextval(pg_get_serial_sequence('{last.table.name}', 'id')) AS new_id, r.ordinality, "
            f"{_prefixed('r', last)} FROM json_populate_recordset(NULL::{last.table.name}, CAST(:returning AS json)) "
            "WITH ORDINALITY AS r)"
        )
        ctes.append(f"wl AS (INSERT INTO {last.table.name} (id, {names}) SELECT new_id, {names} FROM drawn)")
        ids = "ARRAY(SELECT new_id FROM drawn ORDER BY ordinality)"
    ctes += [_update_by_id(f"s{n}", layout, f"set{n}") for n, layout in enumerate(setting)]
    held = "true"
    if guard is not None:
        ctes.append(_guarded_update(guard))
        held = "EXISTS (SELECT FROM g)"
    own = "NULL::json"
    if returning is not None:
        written = " + ".join(f"(SELECT count(*) FROM w{index})" for index in range(len(layouts))) or "0"
        ctes.append(f"own AS ({returning.replace('{written}', f'{written} >= 0')})")
        own = "(SELECT row_to_json(own) FROM own)"
    for n, fan in enumerate(fans):
        ctes += _fanned(n, fan)
    copies = f"json_build_array({', '.join(_copies_back(n, fan) for n, fan in enumerate(fans))})" if fans else "NULL"
    return text(f"WITH {', '.join(ctes)} SELECT {ids}, {held}, {own}, {copies}")


def _fanned(n: int, fan: _Fan) -> list[str]:
    """The INSERT … SELECT of a fanned part; with copies, its ids drawn ahead in a CTE read twice, as `drawn`'s are."""
    select, names = fan.select.replace("{asks}", f"CAST(:fan{n} AS json)"), ", ".join(f'"{c}"' for c in fan.columns)
    if fan.copy is None:
        return [f"n{n} AS (INSERT INTO {fan.table} ({names}) {select}{' ON CONFLICT DO NOTHING' if fan.keyed else ''})"]
    return [
        f"n{n} AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('{fan.table}', 'id')) AS id, x.* "
        f"FROM ({select}) AS x({names}))",
        f"nw{n} AS (INSERT INTO {fan.table} (id, {names}) SELECT id, {names} FROM n{n})",
        *_copied(n, fan.copy, fan.copy_key),
    ]


def _copied(n: int, layout: _Layout, key: str) -> list[str]:
    """One row like the given one per new row, in id order, its `payload` naming the new row's id under `key`."""
    table = layout.table.name
    values = ", ".join(
        f"r.\"{column.name}\" || jsonb_build_object('{key}', c.of_id)"
        if column.name == "payload"
        else f'r."{column.name}"'
        for column in layout.columns
    )
    return [
        f"c{n} AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id, o.of_id "
        f"FROM (SELECT id AS of_id FROM n{n} ORDER BY id) AS o)",
        f"cw{n} AS (INSERT INTO {table} (id, {_names(layout)}) SELECT c.id, {values} "
        f"FROM c{n} AS c CROSS JOIN json_populate_record(NULL::{table}, CAST(:copy{n} AS json)) AS r)",
    ]


def _copies_back(n: int, fan: _Fan) -> str:
    if fan.copy is None:
        return "CAST('[]' AS json)"
    return f"(SELECT coalesce(json_agg(json_build_array(c.id, c.of_id) ORDER BY c.id), '[]') FROM c{n} AS c)"


def _update_by_id(name: str, layout: _Layout, parameter: str) -> str:
    """Each row sets the columns it names on the row with its id.

    The ids are also given as `t.id = ANY(…)`: joined only to the rows unpacked from JSON, which the planner guesses
    at a hundred, the table was read whole (a hash join over a sequential scan) until it was large enough for a
    hundred index probes to look cheaper — on 10,000 certificate lines a released declaration's receipt head cost
    1.4 ms of the server's time, and it grew with the table (tests/integration/test_update_by_id_plans.py).
    """
    table, rows = layout.table.name, f"CAST(:{parameter} AS json)"
    ids = f"ARRAY(SELECT CAST(e ->> 'id' AS bigint) FROM json_array_elements({rows}) AS e)"
    return (
        f"{name} AS (UPDATE {table} AS t SET {_set_clause(layout)} "
        f"FROM json_populate_recordset(NULL::{table}, {rows}) AS r WHERE t.id = ANY({ids}) AND t.id = r.id)"
    )


def _guarded_update(layout: _Layout) -> str:
    """UPDATE … WHERE id = ? AND version = ?, its values unpacked from one JSON object."""
    table = layout.table.name
    return (
        f"g AS (UPDATE {table} AS t SET {_set_clause(layout)} "
        f"FROM json_populate_record(NULL::{table}, CAST(:guarded AS json)) AS r "
        "WHERE t.id = r.id AND t.version = CAST(:read_version AS integer) RETURNING t.id)"
    )


def _set_clause(layout: _Layout) -> str:
    return ", ".join(f'"{column.name}" = r."{column.name}"' for column in layout.columns if column.name != "id")


def _plain_insert(name: str, layout: _Layout, parameter: str, read: bool = False) -> str:
    """`read`: the CTE returns a row per insert, so another part of the statement can wait for it."""
    table = layout.table.name
    return (
        f"{name} AS (INSERT INTO {table} ({_names(layout)}) SELECT {_prefixed('r', layout)} "
        f"FROM json_populate_recordset(NULL::{table}, CAST(:{parameter} AS json)) AS r{' RETURNING 1' if read else ''})"
    )


def _names(layout: _Layout) -> str:
    return ", ".join(f'"{column.name}"' for column in layout.columns)


def _prefixed(alias: str, layout: _Layout) -> str:
    return ", ".join(f'{alias}."{column.name}"' for column in layout.columns)
