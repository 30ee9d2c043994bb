"""Rows updated by id from a JSON array are found by their primary key, however large the table (issue #15).

A released declaration moves its line's receipt chain head in the commit's statement (workflow/store/together.py
`_update_by_id`); joined only to the rows unpacked from JSON, PostgreSQL read the whole certificate_lines table for
it once the table held some thousands of lines, so every declaration grew slower as certificates were granted.
Here the table holds 10,000 lines and the statement a declaration sent is planned as the server keeps it (generic).
"""

from __future__ import annotations

from sqlalchemy import event, text

from config.bootstrap import Container
from tests.conftest import make_cast
from tests.integration.support import declare, fx10_cytokine, grant

LINES = 10_000


def _many_lines(container: Container, certificate_no: str) -> None:
    """The certificate's line copied LINES times (line numbers after its own), and the table's statistics taken."""
    with container.engine.begin() as conn:
        columns = [
            name
            for (name,) in conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'certificate_lines' "
                    "AND column_name NOT IN ('id', 'line_no') ORDER BY ordinal_position"
                )
            )
        ]
        listed = ", ".join(columns)
        conn.execute(
            text(
                f"INSERT INTO certificate_lines (line_no, {listed}) "
                f"SELECT 1000 + g, {', '.join(f'l.{name}' for name in columns)} "
                "FROM certificate_lines l JOIN certificates c ON c.id = l.certificate_id, generate_series(1, :n) g "
                "WHERE c.certificate_no = :number"
            ),
            {"n": LINES, "number": certificate_no},
        )
    with container.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE certificate_lines"))


def test_a_declarations_receipt_head_is_found_by_index_among_many_lines(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    number = grant(container, cast, fx10_cytokine(10_000))
    _many_lines(container, number)
    sent: list[tuple[str, dict]] = []

    def note(_conn: object, _cursor: object, statement: str, parameters: dict, *_rest: object) -> None:
        if "UPDATE certificate_lines AS t" in statement:
            sent.append((statement, dict(parameters)))

    event.listen(container.engine, "before_cursor_execute", note)
    try:
        for index in range(8):  # one of them at least released: grade C inspects a tenth
            declare(container, cast, number, 1, number=f"UBI{index:06d}")
    finally:
        event.remove(container.engine, "before_cursor_execute", note)
    assert sent, "no released declaration moved its line's receipt head"
    statement, parameters = sent[-1]
    raw = container.engine.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            plan = "\n".join(row[0] for row in cursor.execute("EXPLAIN " + statement, parameters, prepare=True))
        raw.rollback()
    finally:
        raw.close()
    assert "Seq Scan on certificate_lines" not in plan, plan
    assert "pk_certificate_lines" in plan, plan
