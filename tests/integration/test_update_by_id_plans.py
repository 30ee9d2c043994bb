"""Rows updated by id from a JSON array are found by their primary key, however large the table (issue #15).

A unit of work's staged updates go with its commit's statement (workflow/store/together.py `_update_by_id`): today
the outbox row a screening completes with its effect (workflow/store/outbox_completion.py), once a declaration's
receipt head. Joined only to the rows unpacked from JSON, PostgreSQL read the whole table for it once the table held
some thousands of rows, so every such commit grew slower as the table grew. Here the outbox holds 10,000 rows and the
statement is planned as the server keeps a prepared statement (generic).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, text

from config.bootstrap import Container
from workflow.store.outbox_completion import Outcome
from workflow.store.tables import OutboxRow, ReceiptQueueRow
from workflow.store.together import TableRows, insert_together

ROWS = 10_000


def _many_outbox_rows(container: Container) -> int:
    """ROWS sent outbox rows, the table's statistics taken; the id of one in the middle."""
    with container.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (task, payload, created_at, published_at, deliveries, attempts, last_error) "
                "SELECT 'specgoods.noop', '{}', now(), now(), 1, 0, '' FROM generate_series(1, :n)"
            ),
            {"n": ROWS},
        )
        middle = conn.execute(text("SELECT id FROM outbox ORDER BY id OFFSET :n LIMIT 1"), {"n": ROWS // 2}).scalar()
    with container.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE outbox"))
    return int(middle)


def test_a_staged_update_by_id_is_found_by_index_among_many_rows(pg_container: Container) -> None:
    container = pg_container
    row_id = _many_outbox_rows(container)
    sent: list[tuple[str, dict]] = []

    def note(_conn: object, _cursor: object, statement: str, parameters: dict, *_rest: object) -> None:
        if "UPDATE outbox AS t" in statement:
            sent.append((statement, dict(parameters)))

    now = datetime.now(UTC).replace(tzinfo=None)
    done = TableRows(OutboxRow, [{"id": row_id, "completed_at": now, "outcome": Outcome.DONE}])  # as a screening's
    queued = TableRows(ReceiptQueueRow, [{"ledger_entry_id": 1}])  # a lone update would go as a plain UPDATE
    event.listen(container.engine, "before_cursor_execute", note)
    try:
        with container.engine.connect() as conn, conn.begin() as transaction:
            insert_together(conn, [queued], None, updates=[done])
            assert conn.execute(text("SELECT outcome FROM outbox WHERE id = :id"), {"id": row_id}).scalar() == "done"
            transaction.rollback()
    finally:
        event.remove(container.engine, "before_cursor_execute", note)
    assert sent, "the staged update was not sent as an update by id"
    statement, parameters = sent[-1]
    raw = container.engine.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            plan = "\n".join(row[0] for row in cursor.execute("EXPLAIN " + statement, parameters, prepare=True))
        raw.rollback()
    finally:
        raw.close()
    assert "Seq Scan on outbox" not in plan, plan
    assert "pk_outbox" in plan, plan
