"""Declaration batches (a port feed's burst): judged in order, filed atomically, replayed safely, on both engines.

Also checks that rows written in bulk (COPY on PostgreSQL) are stored exactly as single INSERTs store them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from config.keys import key_ring
from tests.conftest import Cast, make_cast
from tests.integration.support import (
    balances,
    certificate_state,
    declaration_no,
    fx01_serum,
    fx10_cytokine,
    grant,
)
from workflow.domain import commands as c
from workflow.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    GuardFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from workflow.domain.goods import Direction
from workflow.service.declare import MAX_BATCH
from workflow.store.audit_ledger import audit_ledger
from workflow.store.audit_trail import verify_trail
from workflow.store.bulk import COPY_FROM_ROWS, insert_rows, insert_rows_returning_ids
from workflow.store.tables import (
    AuditEventRow,
    CertificateLineRow,
    CertificateRow,
    DeclarationLineRow,
    DeclarationRow,
    LedgerEntryRow,
    WriteOffReceiptRow,
)

D = Decimal
ON = date(2016, 6, 1)
_numbers = itertools.count(1)
COUNTED = (DeclarationRow, LedgerEntryRow, AuditEventRow, WriteOffReceiptRow)


def shipment(
    cast: Cast,
    certificate_no: str,
    *lines: tuple[int, int | str],
    number: str = "",
    direction: Direction = Direction.ENTRY,
) -> c.DeclareShipment:
    return c.DeclareShipment(
        cast.applicant,
        number or f"B{next(_numbers):06d}",
        certificate_no,
        ON,
        direction,
        tuple((line, D(qty)) for line, qty in lines),
    )


def released_no(container: Container, certificate_no: str) -> str:
    """A number whose draw (E2) releases grade C goods of regular credit (rate 0.1) without inspection."""
    return declaration_no(container, certificate_no, inspected=False, rate=D("0.1"))


def batch(cast: Cast, *shipments: c.DeclareShipment, key: str = "") -> c.DeclareShipments:
    return c.DeclareShipments(cast.applicant, shipments, idempotency_key=key)


def counts(container: Container) -> dict[str, int]:
    with container.sessions() as session:
        return {row.__tablename__: session.scalar(select(func.count()).select_from(row)) or 0 for row in COUNTED}


def assert_books_balance(container: Container) -> None:
    """The auditor's two checks: every balance re-derived from its entries, and the hash chain with its receipts."""
    with container.sessions() as session:
        assert audit_ledger(session).ok
    container.sequencer.seal()  # beat's run
    with container.engine.connect() as connection:
        report = verify_trail(connection, key_ring(container.settings).public_keys())
    assert report.ok and report.districts[0].unsealed == 0, report.as_dict()


def test_a_batch_judges_each_declaration_in_order_against_what_the_earlier_ones_drew(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100), fx10_cytokine(50))
    first, second, third = (released_no(container, number) for _ in range(3))
    result = container.bus.handle(
        batch(
            cast,
            shipment(cast, number, (1, 60), number=first),
            shipment(cast, number, (1, 50), number=second),  # 40 left after the first: held for the port (W5)
            shipment(cast, number, (2, 50), (1, 40), number=third),  # two lines, both exactly what remains
        )
    )
    views = result["declarations"]
    assert [view["declaration_no"] for view in views] == [first, second, third]
    assert [view["state"] for view in views] == ["released", "port_review", "released"]
    assert "40 remaining" in views[1]["hold_reason"]
    assert views[2]["drawn"] == {"1": "40", "2": "50"}
    assert balances(container, number) == {1: (D(100), D(100), D(0)), 2: (D(50), D(50), D(0))}
    assert certificate_state(container, number) == "exhausted"  # C3 after the commit, as for one declaration
    assert_books_balance(container)


def test_a_batch_replayed_by_its_key_returns_the_first_result_and_writes_nothing(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    request = batch(
        cast, *(shipment(cast, number, (1, 5), number=released_no(container, number)) for _ in range(3)), key="k1"
    )
    first = container.bus.handle(request)
    before = counts(container)
    again = container.bus.handle(request)
    assert again["replayed"] is True and again["declarations"] == first["declarations"]
    assert counts(container) == before
    other = batch(cast, shipment(cast, number, (1, 1), number=released_no(container, number)), key="k1")
    with pytest.raises(InvalidInput) as refused:
        container.bus.handle(other)
    assert refused.value.field == "Idempotency-Key"


def test_declarations_already_filed_replay_inside_a_new_batch_and_only_the_new_ones_are_written(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    old = shipment(cast, number, (1, 10), number=released_no(container, number))
    filed = container.bus.handle(old)
    new = shipment(cast, number, (1, 20), number=released_no(container, number))
    views = container.bus.handle(batch(cast, old, new))["declarations"]
    assert views[0] == {**filed, "replayed": True}
    assert views[1]["state"] == "released" and "replayed" not in views[1]
    assert balances(container, number)[1] == (D(100), D(30), D(0))
    assert_books_balance(container)


def _unknown_certificate(cast: Cast, number: str) -> c.DeclareShipment:
    return shipment(cast, "NO-SUCH-CERTIFICATE", (1, 1), number="BAD-1")


def _zero_quantity(cast: Cast, number: str) -> c.DeclareShipment:
    return shipment(cast, number, (1, 0), number="BAD-2")


def _refiled_with_other_content(cast: Cast, number: str) -> c.DeclareShipment:
    return shipment(cast, number, (1, 9), number="FILED-1")


@pytest.mark.parametrize(
    ("bad", "error", "field"),
    [
        (_unknown_certificate, NotFound, "declarations[1].certificate_no"),
        (_zero_quantity, InvalidInput, "declarations[1].lines.0.qty"),
        (_refiled_with_other_content, ConcurrencyConflict, "declarations[1].declaration_no"),
    ],
)
def test_one_bad_declaration_refuses_the_whole_batch_names_it_and_writes_nothing(
    container: Container,
    cast: Cast,
    bad: Callable[[Cast, str], c.DeclareShipment],
    error: type[DomainError],
    field: str,
) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    container.bus.handle(shipment(cast, number, (1, 1), number="FILED-1"))
    before, balance = counts(container), balances(container, number)
    good = shipment(cast, number, (1, 5), number=released_no(container, number))
    with pytest.raises(error) as refused:
        container.bus.handle(batch(cast, good, bad(cast, number), shipment(cast, number, (1, 5), number="LAST")))
    assert refused.value.field == field and refused.value.message.startswith("declarations[1]: ")
    assert counts(container) == before and balances(container, number) == balance


def test_a_declaration_on_another_enterprises_certificate_refuses_the_batch(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    other = make_cast(container, suffix="7")
    theirs = grant(container, other, fx10_cytokine(100))
    before = counts(container)
    with pytest.raises(PermissionDenied) as refused:
        container.bus.handle(batch(cast, shipment(cast, number, (1, 1)), shipment(cast, theirs, (1, 1))))
    assert refused.value.message.startswith("declarations[1]: ") and refused.value.rule_id == "D1"
    assert counts(container) == before


@pytest.mark.parametrize(
    ("size", "repeat", "field"),
    [(0, False, "declarations"), (MAX_BATCH + 1, False, "declarations"), (3, True, "declarations[2].declaration_no")],
)
def test_a_batch_is_one_to_five_hundred_distinct_numbers(
    container: Container, cast: Cast, size: int, repeat: bool, field: str
) -> None:
    items = [shipment(cast, "ANY", (1, 1), number=f"N{index}") for index in range(size)]
    if repeat:
        items[2] = items[0]
    with pytest.raises(InvalidInput) as refused:
        container.bus.handle(batch(cast, *items))
    assert refused.value.field == field
    assert counts(container)[DeclarationRow.__tablename__] == 0


def test_a_second_grade_a_declaration_in_one_batch_refuses_the_batch_w4(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx01_serum(2000), direction=Direction.EXIT)
    with pytest.raises(GuardFailed) as refused:  # the first holds the single use; the second is refused, as alone
        container.bus.handle(
            batch(
                cast,
                shipment(cast, number, (1, 500), direction=Direction.EXIT, number="A-1"),
                shipment(cast, number, (1, 500), direction=Direction.EXIT, number="A-2"),
            )
        )
    assert (refused.value.rule_id, refused.value.field) == ("W4", "declarations[1].certificate_no")
    assert balances(container, number)[1] == (D(2000), D(0), D(0))
    assert counts(container)[DeclarationRow.__tablename__] == 0


def test_a_batch_of_many_declarations_keeps_every_balance_equal_to_its_ledger(container: Container, cast: Cast) -> None:
    """Enough rows per table that PostgreSQL takes the COPY path for each of them."""
    numbers = [grant(container, cast, fx10_cytokine(1000)) for _ in range(3)]
    items = [shipment(cast, numbers[i % 3], (1, 1 + i % 4), number=f"MANY-{i:03d}") for i in range(3 * COPY_FROM_ROWS)]
    views = container.bus.handle(batch(cast, *items))["declarations"]
    assert {view["state"] for view in views} <= {"released", "inspection"}
    drawn = {number: sum(1 + i % 4 for i in range(len(items)) if i % 3 == k) for k, number in enumerate(numbers)}
    for number, total in drawn.items():
        _approved, committed, reserved = balances(container, number)[1]
        assert committed + reserved == total
    assert_books_balance(container)


# -- bulk rows: COPY stores what INSERT stores -------------------------------------------------------------------


def _ledger_row(container: Container, number: str, qty: str) -> dict[str, Any]:
    with container.sessions() as session:
        certificate_id, line_id = session.execute(
            select(CertificateRow.id, CertificateLineRow.id)
            .join(CertificateLineRow, CertificateLineRow.certificate_id == CertificateRow.id)
            .where(CertificateRow.certificate_no == number)
        ).one()
    return {
        "certificate_id": certificate_id,
        "certificate_line_id": line_id,
        "kind": "reserve",
        "qty": D(qty),
        "unit": "支",
        "actor_id": None,
        "actor_role": "system",
        "policy_id": "p",
        "at": datetime(2016, 6, 1, 8, 0, tzinfo=UTC),
    }  # reason and the other defaulted columns are left to their defaults


def _event_row(seq: int) -> dict[str, Any]:
    return {
        "object_type": "test",
        "object_id": 1,
        "district": "bulk-test",
        "actor_role": "system",
        "at": datetime(2016, 6, 1, 8, 0, tzinfo=UTC),
        "trigger": "t",
        "from_state": "a",
        "to_state": "b",
        "rule_ids": ["R1", "W13"],
        "inputs": {"qty": "0.0001", "名称": "血清", "nested": [1, {"b": None}]},
        "chain_seq": seq,
        "prev_hash": "0" * 64,
        "event_hash": "1" * 64,
    }


def _stored(container: Container, row: type[Any], ids: list[int]) -> list[dict[str, Any]]:
    table = row.__table__
    with container.engine.connect() as connection:
        found = connection.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id)).mappings().all()
    return [{key: value for key, value in item.items() if key not in ("id", "chain_seq")} for item in found]


def test_rows_written_in_bulk_are_stored_exactly_as_single_inserts_store_them(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    container.bus.handle(shipment(cast, number, (1, 1), number=released_no(container, number)))
    ledger_rows = [_ledger_row(container, number, "0.0001") for _ in range(COPY_FROM_ROWS)]
    with container.engine.begin() as connection:
        alone = insert_rows_returning_ids(connection, LedgerEntryRow, ledger_rows[:1])
        many = insert_rows_returning_ids(connection, LedgerEntryRow, ledger_rows)
        insert_rows(connection, AuditEventRow, [_event_row(1)])
        insert_rows(connection, AuditEventRow, [_event_row(seq) for seq in range(2, 2 + COPY_FROM_ROWS)])
    assert len(many) == COPY_FROM_ROWS and many == sorted(many) and min(many) > alone[0]
    stored_alone, stored_many = _stored(container, LedgerEntryRow, alone), _stored(container, LedgerEntryRow, many)
    assert stored_many == stored_alone * COPY_FROM_ROWS
    assert stored_alone[0]["qty"] == D("0.0001") and stored_alone[0]["reason"] == ""
    with container.engine.connect() as connection:
        ids = list(connection.scalars(select(AuditEventRow.id).where(AuditEventRow.district == "bulk-test")))
    events = _stored(container, AuditEventRow, ids)
    assert len(events) == 1 + COPY_FROM_ROWS and all(event == events[0] for event in events)
    assert events[0]["inputs"] == _event_row(0)["inputs"] and events[0]["object_ref"] == ""


def test_each_line_is_stored_under_its_own_declaration(container: Container, cast: Cast) -> None:
    """A few declarations and their lines go in one statement on PostgreSQL, each line naming its declaration by
    place (workflow/store/together.py): what is stored is what each declaration asked for, on both engines."""
    number = grant(container, cast, fx10_cytokine(100), fx10_cytokine(50))
    asked = {released_no(container, number): ((1, 7),) for _ in range(2)}
    asked[released_no(container, number)] = ((2, 3), (1, 4))
    result = container.bus.handle(
        batch(cast, *(shipment(cast, number, *lines, number=no) for no, lines in asked.items()))
    )
    ids = {view["declaration_no"]: view["declaration_id"] for view in result["declarations"]}
    with container.sessions() as session:
        stored = {
            (row.declaration_id, row.line_no, row.requested_qty)
            for row in session.scalars(
                select(DeclarationLineRow).where(DeclarationLineRow.declaration_id.in_(ids.values()))
            )
        }
    assert stored == {(ids[no], line, D(qty)) for no, lines in asked.items() for line, qty in lines}
