"""What one declaration costs, and that the cheaper path reads the same facts: the holder's credit history comes with
the certificate's row, pending inspections are read only when one waits on a line, and everything that needs no
line lock is written before the guarded UPDATE takes it (docs/performance.md, issue #15)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from sqlalchemy import event

from config.bootstrap import Container
from tests.conftest import Cast, make_cast
from tests.integration.support import declaration_no, declare, fx10_cytokine, grant
from workflow.domain import commands as c
from workflow.store.tables import CreditRecordRow

RATE = Decimal("0.1")  # grade C with no credit record
RELEASED = [
    # with its lines, the application's ports, the holder's credit, the pending flags, and the ids of the new rows
    "SELECT certificates",
    # one statement (workflow/store/together.py): every row with the id the read drew for it, the commit's place in
    # the receipt queue, and the guarded UPDATE that locks the line until the COMMIT that follows it at once: the
    # receipt is the receipt sequencer's, after the commit (workflow/store/receipt_sequencer.py)
    "INSERT declarations+declaration_lines+receipt_queue+audit_events+ledger_entries UPDATE certificate_lines",
]
SHAPES = (r"^SELECT (\w+)\.", r"^INSERT INTO (\w+)", r"^UPDATE (\w+)")  # a SELECT by its first column's table


def _shape(statement: str) -> str:
    text = " ".join(statement.split())
    if text.startswith("WITH "):  # several tables' rows in one statement: named by the tables, in order
        updated = "".join(f" UPDATE {table}" for table in re.findall(r"UPDATE (\w+)", text))
        return "INSERT " + "+".join(re.findall(r"INSERT INTO (\w+)", text)) + updated
    for pattern in SHAPES:
        found = re.match(pattern, text)
        if found:
            return f"{text.split()[0]} {found.group(1)}"
    return text[:40]


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(_shape(statement))

    event.listen(container.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(container.engine, "before_cursor_execute", note)


def _declare_counted(container: Container, cast: Cast, number: str, inspected: bool) -> tuple[dict, list[str]]:
    chosen = declaration_no(container, number, inspected=inspected, rate=RATE)  # reads the draw key: not counted
    with statements(container) as seen:
        shipment = declare(container, cast, number, 2, number=chosen)
    return shipment, seen


def test_a_released_declaration_is_two_statements_the_last_under_the_line_lock(pg_container: Container) -> None:
    container, cast = pg_container, make_cast(pg_container)
    number = grant(container, cast, fx10_cytokine(100))
    counted = [_declare_counted(container, cast, number, inspected=False) for _ in range(12)]
    assert {shipment["state"] for shipment, _ in counted} == {"released"}
    # The period's draw key is read once per pooled connection, then remembered (a committed key never changes).
    assert sum(seen.count("SELECT draw_keys") for _, seen in counted) <= 2
    for _, seen in counted:
        assert [shape for shape in seen if shape != "SELECT draw_keys"] == RELEASED


def test_the_credit_history_read_with_the_certificate_is_the_enterprise_s_own(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    histories = []
    for tier, start, end in (
        ("general", date(2015, 1, 1), date(2015, 12, 31)),
        ("advanced_certified", date(2016, 1, 1), None),
    ):
        histories.append(_read_both(container, cast, number))
        with container.sessions() as session, session.begin():
            session.add(
                CreditRecordRow(
                    enterprise_id=cast.enterprise_id,
                    tier=tier,
                    regime="order-251",
                    effective_from=start,
                    effective_to=end,
                )
            )
    histories.append(_read_both(container, cast, number))
    assert [len(with_certificate) for with_certificate, _ in histories] == [0, 1, 2]
    for with_certificate, own in histories:
        assert sorted(with_certificate, key=repr) == sorted(own, key=repr)
    shipment, _ = _declare_counted(container, cast, number, inspected=False)
    assert shipment["route"]["credit_tier"] == "advanced_certified"  # as of 2016-06-01


def _read_both(container: Container, cast: Cast, number: str) -> tuple[list, list]:
    with container.deps.uow() as uow:
        facts = uow.ledger.share_certificates([number])[number]
        assert facts.credit_records is not None
        return list(facts.credit_records), uow.enterprises.credit_records(cast.enterprise_id)


def test_pending_inspections_are_read_only_when_one_waits_on_the_line(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    drawn, _ = _declare_counted(container, cast, number, inspected=True)
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, drawn["declaration_id"], "删单"))  # E4: left pending
    inheriting, seen = _declare_counted(container, cast, number, inspected=False)
    assert "SELECT pending_inspections" in seen
    assert inheriting["route"]["inherited_from"] == [drawn["declaration_no"]] and inheriting["state"] != "released"
    _, after = _declare_counted(container, cast, number, inspected=False)  # the pending one is carried: none waits
    assert "SELECT pending_inspections" not in after
