"""The commit's last rows in one statement store exactly what one INSERT per table stores, ids in order.

workflow/store/together.py passes each table's rows as JSON to one statement of CTEs on PostgreSQL; these tests
write the same rows both ways and compare every column, with the values that could go wrong on the way through
JSON: Chinese text and NUL-free control characters, nested and empty JSON, JSON null in a JSON column, naive UTC
timestamps with microseconds, omitted columns that take their defaults, and ids returned in the order given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from config.bootstrap import Container
from tests.conftest import _empty_tables, make_cast
from tests.integration.support import file_application
from workflow.domain.errors import ConcurrencyConflict
from workflow.store.tables import ApplicationRow, AuditEventRow, DistrictCountDeltaRow, OutboxRow
from workflow.store.together import (
    MOST_ROWS_TOGETHER,
    GuardedRow,
    Returning,
    Staged,
    TableRows,
    insert_returning,
    insert_together,
    stage,
    take_staged,
)

AT = datetime(2026, 12, 6, 4, 5, 6, 789012)


def _event(n: int) -> dict[str, Any]:
    return {
        "object_type": "application",
        "object_id": 1000 + n,
        "object_ref": f"XM2026{n:07d}",
        "district": "xiamen",
        "actor_id": None,
        "actor_role": "system",
        "actor_name": "厦门海关 \"审核\" \\ 'x'\n\t",
        "at": AT,
        "trigger": "screen",
        "from_state": "submitted",
        "to_state": "screened",
        "reason": "",
        "rule_ids": ["R60", "R15"] if n % 2 else [],
        "inputs": {"grade": "C", "nested": {"list": [1, 2.5, None, "丙"], "empty": {}}, "flag": True},
    }


def _outbox(n: int) -> dict[str, Any]:
    payload = {"application_id": n, "note": "通知", "deep": [{"a": None}]}
    return {"task": f"task.{n % 3}", "payload": payload, "created_at": AT, "published_at": None if n % 2 else AT}


def _written(
    url: str, together: bool, events: int, outbox: int, make_event: Callable[[int], dict[str, Any]] = _event
) -> tuple[list[int], list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_events, outbox, district_count_deltas RESTART IDENTITY"))
            parts = [
                TableRows(AuditEventRow, [make_event(n) for n in range(events)]),
                TableRows(DistrictCountDeltaRow, [{"district": "xiamen", "counter": "state.screened", "delta": -1}]),
            ]
            last = TableRows(OutboxRow, [_outbox(n) for n in range(outbox)])
            if together:
                ids = insert_together(connection, parts, last)
            else:
                ids = []
                for part in parts:
                    insert_together(connection, [part], None)
                ids = insert_together(connection, [], last)
            rows = []
            for table in (AuditEventRow, OutboxRow, DistrictCountDeltaRow):
                rows += [tuple(row) for row in connection.execute(select(table.__table__).order_by(table.id))]
        return ids, rows
    finally:
        engine.dispose()


@pytest.mark.parametrize(("events", "outbox"), [(1, 1), (3, 5), (2, 0)])
def test_one_statement_stores_what_separate_inserts_store(postgres_url: str, events: int, outbox: int) -> None:
    apart_ids, apart = _written(postgres_url, together=False, events=events, outbox=outbox)
    together_ids, together = _written(postgres_url, together=True, events=events, outbox=outbox)
    assert together == apart
    assert together_ids == apart_ids == list(range(1, outbox + 1))


def _event_orjson_refuses(n: int) -> dict[str, Any]:
    """An integer beyond 64 bits in a JSON column: orjson refuses it, the standard library's encoder takes it."""
    return {**_event(n), "inputs": {"big": 2**70 + n, "text": "丙"}}


def test_a_value_orjson_refuses_is_stored_as_separate_inserts_store_it(postgres_url: str) -> None:
    _, apart = _written(postgres_url, together=False, events=2, outbox=1, make_event=_event_orjson_refuses)
    _, together = _written(postgres_url, together=True, events=2, outbox=1, make_event=_event_orjson_refuses)
    assert together == apart
    assert {"big": 2**70, "text": "丙"} in [value for row in together for value in row]


def test_ids_follow_the_order_given(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            rows = [_outbox(n) for n in range(40)]
            ids = insert_together(connection, [TableRows(AuditEventRow, [_event(0)])], TableRows(OutboxRow, rows))
            stored = dict(
                connection.execute(select(OutboxRow.id, OutboxRow.payload).where(OutboxRow.id.in_(ids))).all()
            )
            assert [stored[new_id] for new_id in ids] == [row["payload"] for row in rows]
            connection.rollback()
    finally:
        engine.dispose()


def test_a_commit_ends_in_one_statement_on_postgresql(postgres_url: str) -> None:
    statements: list[str] = []
    engine = create_engine(postgres_url)
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        with engine.begin() as connection:
            parts = [TableRows(AuditEventRow, [_event(1)]), TableRows(DistrictCountDeltaRow, [])]
            insert_together(connection, parts, TableRows(OutboxRow, [_outbox(1)]))
            assert len(statements) == 1 and statements[0].startswith("WITH")
            big = [_event(n) for n in range(MOST_ROWS_TOGETHER + 1)]
            insert_together(connection, [TableRows(AuditEventRow, big)], TableRows(OutboxRow, [_outbox(2)]))
            # a batch's many rows go table by table as before: the events by COPY (not an engine event), the outbox
            assert len(statements) == 2 and statements[1].startswith("INSERT INTO outbox")
            connection.rollback()
    finally:
        engine.dispose()


def test_updates_change_only_the_columns_their_rows_name(
    make_container: Callable[..., Container], postgres_url: str
) -> None:
    """A guarded row and rows updated by id set what they name; columns with a client-side default keep their value."""
    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    application_id = file_application(container, cast)
    with container.engine.begin() as connection:
        before = connection.execute(select(ApplicationRow.__table__).where(ApplicationRow.id == application_id)).one()
        guarded = GuardedRow(ApplicationRow, application_id, before.version, {"decision_reason": "x"})
        insert_together(connection, [TableRows(AuditEventRow, [_event(1)])], None, guarded=guarded)
        after = connection.execute(select(ApplicationRow.__table__).where(ApplicationRow.id == application_id)).one()
        with pytest.raises(ConcurrencyConflict):  # the version read is no longer the row's
            insert_together(connection, [TableRows(AuditEventRow, [_event(2)])], None, guarded=guarded)
    changed = {key for key, value in before._mapping.items() if after._mapping[key] != value}
    assert changed == {"version", "decision_reason"}


def test_the_caller_s_own_statement_goes_with_the_rows_and_its_row_comes_back(postgres_url: str) -> None:
    """A declaration's draw goes with its rows: the UPDATE's row, or None when its guard found nothing to change."""
    engine = create_engine(postgres_url)
    own = (
        "UPDATE outbox SET attempts = attempts + 1 WHERE id = CAST(:row AS bigint) AND {written} RETURNING id, attempts"
    )
    own += ", task"
    try:
        with engine.begin() as connection:
            (first,) = insert_together(connection, [], TableRows(OutboxRow, [_outbox(1)]))
            events = [TableRows(AuditEventRow, [_event(1), _event(2)])]
            found = insert_returning(connection, events, Returning(own, {"row": first}))
            assert found == {"id": first, "attempts": 1, "task": "task.1"}
            assert insert_returning(connection, events, Returning(own, {"row": -1})) is None
            stored = connection.execute(select(AuditEventRow.object_id).order_by(AuditEventRow.id)).scalars().all()
            assert stored[-4:] == [1001, 1002, 1001, 1002]  # the rows went in either way: the caller rolls back
            connection.rollback()
    finally:
        engine.dispose()


def test_staged_rows_wait_for_the_next_statement_and_go_with_a_rollback(
    make_container: Callable[..., Container], postgres_url: str
) -> None:
    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    with container.sessions() as session:
        stage(session, TableRows(AuditEventRow, [_event(1)]))
        stage(session, TableRows(AuditEventRow, []))  # nothing to stage
        stage(session, TableRows(OutboxRow, [{"id": 7, "attempts": 2}]), updating=True)
        staged = take_staged(session)
        assert [len(part.rows) for part in staged.inserts] == [1] and staged.updates[0].rows[0]["id"] == 7
        assert take_staged(session) == Staged()  # taken once
    with container.deps.uow() as uow:
        stage(uow.session, TableRows(AuditEventRow, [_event(1)]))
        uow.rollback()
        assert take_staged(uow.session) == Staged()


@pytest.mark.parametrize("waits_for_rows", [True, False])
def test_the_rows_go_in_before_the_caller_s_statement_takes_its_lock(postgres_url: str, waits_for_rows: bool) -> None:
    """With `{written}` the inserts run first: a failing one fails at once though another transaction holds the row
    the UPDATE wants; without it PostgreSQL runs the inserts last, after waiting for that lock."""
    condition = "{written}" if waits_for_rows else "true"
    own = f"UPDATE outbox SET attempts = attempts + 1 WHERE id = CAST(:row AS bigint) AND {condition} RETURNING id"
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as holder, engine.connect() as writer:
            (row,) = insert_together(holder, [], TableRows(OutboxRow, [_outbox(1)]))
            holder.commit()
            holder.execute(text("SELECT id FROM outbox WHERE id = :row FOR UPDATE"), {"row": row})
            writer.execute(text("SET lock_timeout = '1s'"))
            twice = TableRows(AuditEventRow, [{**_event(1), "id": 10**9}, {**_event(2), "id": 10**9}])
            with pytest.raises(DBAPIError) as raised:
                insert_returning(writer, [twice], Returning(own, {"row": row}))
            expected = IntegrityError if waits_for_rows else OperationalError  # lock_timeout: 55P03
            assert isinstance(raised.value, expected), raised.value
            writer.rollback()
            holder.rollback()
    finally:
        engine.dispose()
