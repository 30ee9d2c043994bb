"""Statements run on the driver's connection behave as SQLAlchemy's execution of them does, where it matters.

workflow/store/driver_statements.py runs the commit's statement and the plain reads of each step on psycopg
directly. These tests hold it to what callers rely on: the engine's statement listeners see (and may rewrite) each
statement; a driver error comes out as SQLAlchemy's exception of the same kind, parameters hidden, and a connection
the server dropped is invalidated; the rows are those SQLAlchemy's execution gives; and a statement whose values
SQLAlchemy would convert or expand still goes through SQLAlchemy (as everything does on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import ARRAY, Connection, Engine, bindparam, event, func, literal_column, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from config.bootstrap import Container
from tests.conftest import make_cast
from tests.integration.support import balances, file_application, fx01_serum, fx10_cytokine, grant
from workflow.store import driver_statements
from workflow.store.driver_statements import _plan, first_row, plain_rows
from workflow.store.engine import make_engine
from workflow.store.repositories import _APPLICATION
from workflow.store.step_reads import _statement
from workflow.store.tables import CertificateLineRow, ScaledQuantity

SCRATCH = "CREATE TEMPORARY TABLE driver_probe (id integer PRIMARY KEY, note text)"
INSERT = text("INSERT INTO driver_probe (id, note) VALUES (:id, :note) RETURNING id, note")


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    built = make_engine(postgres_url)  # the app's engine: parameters hidden from errors
    yield built
    built.dispose()


def test_listeners_see_each_statement_and_may_rewrite_it(engine: Engine) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> tuple[str, Any]:
        seen.append(("before", statement, dict(parameters)))
        return f"/* noted */ {statement}", parameters

    def after(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append(("after", statement, dict(parameters)))

    event.listen(engine, "before_cursor_execute", before, retval=True)
    event.listen(engine, "after_cursor_execute", after)
    with engine.connect() as connection:
        connection.exec_driver_sql(SCRATCH)
        seen.clear()
        assert first_row(connection, INSERT, {"id": 1, "note": "核销"}) == (1, "核销")
        connection.rollback()
    assert [what for what, _, _ in seen] == ["before", "after"]
    assert seen[0][1].startswith("INSERT INTO driver_probe") and "%(id)s" in seen[0][1]
    assert seen[1][1].startswith("/* noted */ INSERT"), "the statement sent is the one the listener returned"
    assert seen[0][2] == {"id": 1, "note": "核销"}


def test_a_driver_error_is_sqlalchemy_s_error_of_its_kind_with_the_values_hidden(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.exec_driver_sql(SCRATCH)
        first_row(connection, INSERT, {"id": 1, "note": "secret-one"})
        with pytest.raises(IntegrityError) as raised:
            first_row(connection, INSERT, {"id": 1, "note": "secret-two"})
        assert isinstance(raised.value.orig, psycopg.errors.UniqueViolation)
        assert "secret-two" not in str(raised.value)
        assert not raised.value.connection_invalidated
        connection.rollback()


def test_a_connection_the_server_dropped_is_invalidated(engine: Engine, postgres_url: str) -> None:
    with engine.connect() as connection:
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        connection.commit()
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with pytest.raises(OperationalError) as raised:
            first_row(connection, text("SELECT 1"), {})
        assert raised.value.connection_invalidated and connection.invalidated
        connection.rollback()
        assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1, "the pool hands out a new connection"
        assert first_row(connection, text("SELECT 2"), {}) == (2,), "and the driver's path a cursor of its own"


UPDATE = text("UPDATE driver_probe SET note = :note")
NOTE = text("SELECT note FROM driver_probe")
ONE = text("SELECT 1")
JSON_READS = (text("SELECT CAST('{\"a\": 1}' AS json), 1"), text("SELECT 2, CAST('[1, \"丙\"]' AS jsonb)"))


def test_each_statement_keeps_a_cursor_of_its_own_on_each_connection(engine: Engine) -> None:
    cursors: list[Any] = []
    event.listen(engine, "before_cursor_execute", lambda _conn, cursor, *_rest: cursors.append(cursor))
    with engine.connect() as one, engine.connect() as other:
        one.exec_driver_sql(SCRATCH)
        cursors.clear()
        assert first_row(one, INSERT, {"id": 1, "note": "a"}) == (1, "a")
        assert first_row(one, UPDATE, {"note": "b"}) is None, "a statement without rows gives none"
        assert first_row(one, NOTE, {}) == ("b",), "the update ran"
        assert first_row(one, UPDATE, {"note": "c"}) is None
        assert first_row(one, NOTE, {}) == ("c",)
        assert first_row(one, ONE, {}) == (1,)
        assert first_row(other, ONE, {}) == (1,)
        one.rollback()
    insert, update, note, update_again, note_again, mine, others = cursors
    assert update is update_again and note is note_again, "a statement run again runs on its own cursor"
    assert len({id(insert), id(update), id(note), id(mine)}) == 4, "each statement has its own"
    assert others is not mine and others.connection is not mine.connection, "and each connection its own"


def test_statements_taking_turns_keep_what_psycopg_looked_up_for_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    loader = psycopg.types.json._JsonLoader
    built = loader.__init__
    monkeypatch.setattr(loader, "__init__", lambda self, *args: made.append(1) or built(self, *args))
    with engine.connect() as connection:
        for statement in JSON_READS:
            plain_rows(connection, statement, {})
        made.clear()
        for _ in range(3):
            assert plain_rows(connection, JSON_READS[0], {}) == [({"a": 1}, 1)]
            assert plain_rows(connection, JSON_READS[1], {}) == [(2, [1, "丙"])]
        connection.rollback()
    assert made == [], "no JSON loader made again for a statement that ran before"


def test_a_connection_keeps_a_bounded_number_of_cursors(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_statements, "MOST_CURSORS", 2)
    cursors: list[Any] = []
    event.listen(engine, "before_cursor_execute", lambda _conn, cursor, *_rest: cursors.append(cursor))
    with engine.connect() as connection:
        for n in range(3):  # three statements, each built anew
            assert first_row(connection, text(f"SELECT {n}"), {}) == (n,)
        connection.rollback()
    assert cursors[0].closed and cursors[1].closed and not cursors[2].closed, "the kept ones closed, then a new one"


def _both_ways(connection: Connection, statement: Any, parameters: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    through_sqlalchemy = [tuple(row) for row in connection.execute(statement, parameters)]
    return plain_rows(connection, statement, parameters), through_sqlalchemy


def test_the_plain_reads_give_the_rows_sqlalchemy_gives(pg_container: Container) -> None:
    cast = make_cast(pg_container)
    application_id = file_application(pg_container, cast)
    enterprise_id = cast.applicant.enterprise_id
    wanted = ("natural_person", "has_grant", "banned_until", "document", "credit", "granted", "assessment", "replaces")
    parameters = {"application_id": application_id, "enterprise_id": enterprise_id, "keys": ["a|b", "c|d"]}
    with pg_container.sessions() as session:
        connection = session.connection()
        for statement, values in (
            (_APPLICATION, {"id": application_id}),
            (_statement(wanted, True), {**parameters, "on": date(2026, 12, 7)}),
        ):
            assert _plan(connection, statement) is not None, "runs on the driver"
            on_driver, through_sqlalchemy = _both_ways(connection, statement, values)
            assert on_driver == through_sqlalchemy and on_driver


def test_a_column_sqlalchemy_converts_is_converted_the_same_way(engine: Engine) -> None:
    scaled = select(literal_column("15000", ScaledQuantity()).label("qty"), literal_column("'支'").label("unit"))
    with engine.connect() as connection:
        plan = _plan(connection, scaled)
        assert plan is not None and plan.conversions, "runs on the driver, its quantity converted"
        assert plain_rows(connection, scaled, {}) == [(Decimal("1.5"), "支")]
        assert [tuple(row) for row in connection.execute(scaled)] == [(Decimal("1.5"), "支")]


def test_a_parameter_sqlalchemy_converts_is_converted_the_same_way(engine: Engine) -> None:
    scaled = select(bindparam("qty", type_=ScaledQuantity()).label("qty"))
    arrays = select(func.unnest(bindparam("qtys", type_=ARRAY(ScaledQuantity()))).label("qty"))
    with engine.connect() as connection:
        assert _plan(connection, scaled) is not None and _plan(connection, arrays) is not None, "both on the driver"
        sent: list[dict[str, Any]] = []
        event.listen(connection, "before_cursor_execute", lambda *args: sent.append(dict(args[3])))
        assert plain_rows(connection, scaled, {"qty": Decimal("1.5")}) == [(Decimal("1.5"),)], "there and back"
        assert sent[-1] == {"qty": 15000}, "sent scaled, as SQLAlchemy binds it"
        assert plain_rows(connection, arrays, {"qtys": [Decimal("0.0001"), Decimal(2)]}) == [(1,), (20000,)]
        assert [tuple(row) for row in connection.execute(arrays, {"qtys": [Decimal("0.0001"), Decimal(2)]})] == [
            (1,),
            (20000,),
        ], "SQLAlchemy's execution sends the same"
        with pytest.raises(StatementError) as refused:
            plain_rows(connection, scaled, {"qty": Decimal("0.00001")})
        assert isinstance(refused.value.orig, ValueError), "a value the type refuses"
        with pytest.raises(StatementError):  # as SQLAlchemy's execution reports it
            connection.execute(scaled, {"qty": Decimal("0.00001")})


def test_a_grant_issues_its_certificate_on_the_driver_with_its_quantities_scaled(pg_container: Container) -> None:
    """The certificate's lines go with the grant's last statement, as JSON rows of the values SQLAlchemy would bind."""
    issued: list[tuple[Any, dict[str, Any]]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: Any) -> None:
        if "INSERT INTO certificate_lines" in statement:
            issued.append((context, dict(parameters)))

    event.listen(pg_container.engine, "before_cursor_execute", note)
    try:
        certificate_no = grant(pg_container, make_cast(pg_container), fx10_cytokine(qty=7), fx01_serum(qty=2000))
    finally:
        event.remove(pg_container.engine, "before_cursor_execute", note)
    [(context, parameters)] = issued
    assert context is None, "the driver's execution passes no SQLAlchemy context"
    rows = [json.loads(value) for value in parameters.values() if isinstance(value, str) and "approved_qty" in value]
    assert [[row["approved_qty"] for row in each] for each in rows] == [[70000, 20000000]], "scaled as bound"
    assert balances(pg_container, certificate_no) == {1: (Decimal(7), 0, 0), 2: (Decimal(2000), 0, 0)}


def test_an_expanding_in_goes_through_sqlalchemy(engine: Engine) -> None:
    expanding = select(CertificateLineRow.id).where(CertificateLineRow.id.in_(bindparam("ids", expanding=True)))
    with engine.connect() as connection:
        assert _plan(connection, expanding) is None, "an expanding IN is rendered per run"
        assert plain_rows(connection, expanding, {"ids": [-1, -2]}) == []


def test_on_sqlite_everything_goes_through_sqlalchemy(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            assert plain_rows(connection, text("SELECT :n + 1"), {"n": 1}) == [(2,)]
    finally:
        engine.dispose()
