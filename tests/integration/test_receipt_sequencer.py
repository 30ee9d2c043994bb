"""Receipts signed after the commit: a write-off queues its commit, the receipt sequencer signs and chains it.

A write-off no longer signs under its line's lock (#15): it writes its commit with a row in the receipt queue, and
the sequencer's run (beat's, the CLI's, a checkpoint's) signs each queued movement's receipt after the one before it
on its line and empties the queue (workflow/store/receipt_sequencer.py). Until then the verifier counts the queued
movements toward the ledger's side, and one queued past the bound is a problem of its line (docs/audit-trail.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from config.bootstrap import Container
from config.keys import key_ring
from tests.conftest import Cast
from tests.integration.support import declare, fx10_cytokine, grant
from workflow.store.audit_trail import UNSEALED_BOUND, verify_receipts, verify_trail
from workflow.store.overdue_work import overdue_work
from workflow.store.tables import LedgerEntryRow, ReceiptQueueRow, WriteOffReceiptRow


def _counts(container: Container) -> tuple[int, int, int]:
    """(commits and reversals in the ledger, receipts, movements queued)."""
    with container.engine.connect() as connection:
        movements = select(func.count()).where(LedgerEntryRow.kind.in_(("commit", "reverse")))
        return (
            connection.execute(movements).scalar_one(),
            connection.execute(select(func.count()).select_from(WriteOffReceiptRow)).scalar_one(),
            connection.execute(select(func.count()).select_from(ReceiptQueueRow)).scalar_one(),
        )


def _released(container: Container, cast: Cast, number: str, quantities: tuple[int, ...]) -> None:
    for qty in quantities:
        shipment = declare(container, cast, number, qty)  # a number the draw releases
        assert shipment["state"] == "released", shipment


def test_a_write_off_queues_its_commit_and_the_sequencer_signs_its_receipt(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    _released(container, cast, number, (3, 4, 5))
    assert _counts(container) == (3, 0, 3)
    container.sequencer.seal_events()  # signs the chain's head: the key the receipts will be signed with exists
    keys = key_ring(container.settings).public_keys()
    with container.engine.connect() as connection:  # waiting, not late: no problem, and the nets add up
        written = connection.execute(select(func.max(LedgerEntryRow.at))).scalar_one()
        assert verify_receipts(connection, keys, now=written) == (0, [])
    assert container.sequencer.seal_receipts() == 3
    assert _counts(container) == (3, 3, 0)
    _released(container, cast, number, (6,))
    assert container.sequencer.seal_receipts() == 1 and container.sequencer.seal_receipts() == 0
    with container.engine.connect() as connection:
        report = verify_trail(connection, keys, now=written)
        chain = connection.execute(
            select(WriteOffReceiptRow.seq, WriteOffReceiptRow.net_committed).order_by(WriteOffReceiptRow.seq)
        ).all()
    assert report.ok and (report.receipts_checked, report.receipts_waiting) == (4, 0), report.as_dict()
    assert [(seq, int(net)) for seq, net in chain] == [(1, 3), (2, 7), (3, 12), (4, 18)]


def test_a_movement_left_waiting_past_the_bound_is_a_problem_of_its_line(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    _released(container, cast, number, (2,))
    container.sequencer.seal_events()  # signs the chain's head: the key the receipt will be signed with exists
    keys = key_ring(container.settings).public_keys()
    with container.engine.connect() as connection:
        written = connection.execute(select(func.max(LedgerEntryRow.at))).scalar_one()
        assert isinstance(written, datetime)
        _, in_time = verify_receipts(connection, keys, now=written + UNSEALED_BOUND - timedelta(seconds=1))
        _, late = verify_receipts(connection, keys, now=written + UNSEALED_BOUND + timedelta(seconds=1))
        report = verify_trail(connection, keys, now=written + 2 * UNSEALED_BOUND)
    assert in_time == []
    assert [(problem.certificate_no, problem.line_no) for problem in late] == [(number, 1)]
    assert "1 movement(s) waiting for their receipt since" in late[0].detail
    assert not report.ok and report.receipts_waiting == 1
    assert _overdue_receipts(container, written + 2 * UNSEALED_BOUND) == 1  # `specgoods tasks overdue` names it
    container.sequencer.seal()
    with container.engine.connect() as connection:
        assert verify_receipts(connection, keys, now=written + 2 * UNSEALED_BOUND) == (1, [])
    assert _overdue_receipts(container, written + 2 * UNSEALED_BOUND) == 0


def _overdue_receipts(container: Container, now: datetime) -> int:
    with container.sessions() as session:
        kinds = {kind.kind: kind for kind in overdue_work(session, now, UNSEALED_BOUND)}
    return kinds["unsigned_receipts"].count
