"""Many rows into one table in one go: COPY on PostgreSQL, a multi-row INSERT elsewhere.

A batch of declarations writes hundreds of rows (declarations, their lines, ledger entries, their places in the
receipt queue, audit events). As INSERT statements every row is parameters the client converts and a statement the
server plans and runs; as COPY it is one line of one stream, which is PostgreSQL's own advice for loading many rows
("Populating a Database"). Each value goes through its column's SQLAlchemy type first and omitted columns get their
declared defaults, so a copied row is stored exactly as the INSERT would have stored it. A few rows go by INSERT:
COPY costs an extra round trip to start, and a single declaration is mostly one row per table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import JSON, Column, Connection, Dialect, Table, bindparam, func, insert, select

COPY_FROM_ROWS = 8  # below this, one INSERT (with RETURNING) is cheaper than a COPY and a sequence read


def insert_rows(connection: Connection, mapped: type[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows of a mapped class's table that all name the same columns (ids come from the table's sequence)."""
    table: Table = mapped.__table__
    if len(rows) >= COPY_FROM_ROWS and connection.dialect.name == "postgresql":
        _copy(connection, table, rows)
    elif len(rows) == 1:  # one row: a plain execute, not the executemany path with its batching machinery
        connection.execute(_prebuilt(table, "plain"), dict(rows[0]))
    elif rows:
        connection.execute(_prebuilt(table, "plain"), list(rows))


def insert_rows_returning_ids(
    connection: Connection, mapped: type[Any], rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert rows and return their new ids, in the order of `rows`."""
    table: Table = mapped.__table__
    if len(rows) >= COPY_FROM_ROWS and connection.dialect.name == "postgresql":
        ids = next_ids(connection, mapped, len(rows))
        _copy(connection, table, [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)])
        return ids
    if not rows:
        return []
    if len(rows) == 1:
        return [connection.execute(_prebuilt(table, "id"), dict(rows[0])).scalar_one()]
    return list(connection.execute(_prebuilt(table, "ids"), list(rows)).scalars())


# Built once per table: a statement object made per call costs more client CPU than its round trip, while a
# reused one is a compiled-cache hit (the cache keys on the statement and the column names given).
_BUILDERS: dict[str, Callable[[Table], Any]] = {
    "plain": insert,
    "id": lambda table: insert(table).returning(table.c.id),
    "ids": lambda table: insert(table).returning(table.c.id, sort_by_parameter_order=True),
}


@cache
def _prebuilt(table: Table, kind: str) -> Any:
    return _BUILDERS[kind](table)


# nextval() once per row of generate_series, in row order: ids in the order INSERTs would have drawn them.
_NEXT_IDS = select(func.nextval(func.pg_get_serial_sequence(bindparam("table"), "id"))).select_from(
    func.generate_series(1, bindparam("count"))
)


def next_ids(connection: Connection, mapped: type[Any], count: int) -> list[int]:
    """PostgreSQL: `count` new ids from the table's sequence, in the order INSERTs would have drawn them."""
    return list(connection.execute(_NEXT_IDS, {"table": mapped.__table__.name, "count": count}).scalars())


def _copy(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """COPY the rows in through the connection's own transaction, values prepared by their column types."""
    columns = column_layout(table, rows[0])
    prepare = [column_value(connection.dialect, column) for column in columns]
    names = ", ".join(connection.dialect.identifier_preparer.quote(column.name) for column in columns)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([convert(row) for convert in prepare])


def column_layout(table: Table, sample: Mapping[str, Any]) -> list[Column[Any]]:
    """The columns the rows give, and every other one with a client-side default (the server fills in the rest)."""
    given = [column for column in table.columns if column.key in sample]
    defaulted = [column for column in table.columns if column.key not in sample and column.default is not None]
    for column in defaulted:
        if not column.default.is_scalar:  # type: ignore[union-attr]
            raise ValueError(f"{table.name}.{column.key} has a computed default: give it in every row")
    return given + defaulted


def column_reading(
    dialect: Dialect, column: Column[Any], json_as_is: bool = False
) -> tuple[str, Any, Callable[[Any], Any] | None]:
    """A column's key in a row, the value when the row lacks it (its default), and its type's bind processing.

    The processing is None when the value goes as it is.
    `json_as_is`: a JSON column's value stays the Python value it is (for a statement that carries the rows as one
    JSON document, workflow/store/together.py); COPY needs it serialised like any other.
    """
    implementation = column.type.dialect_impl(dialect)
    process = None if json_as_is and isinstance(implementation, JSON) else implementation.bind_processor(dialect)
    default = column.default.arg if column.default is not None else None  # type: ignore[attr-defined]
    return column.key, default, process


def column_value(dialect: Dialect, column: Column[Any], json_as_is: bool = False) -> Callable[[Mapping[str, Any]], Any]:
    """Read a row's value (or the column's default) and pass it through the column type's bind processing."""
    key, default, process = column_reading(dialect, column, json_as_is)

    def convert(row: Mapping[str, Any]) -> Any:
        value = row.get(key, default)
        return value if process is None or value is None else process(value)

    return convert
