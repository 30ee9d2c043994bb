"""The ledger under real concurrency: racing client processes on a few hot lines, and a client killed mid-write.

After the race every balance must equal its ledger exactly, no line may be over-drawn, and the commits in the ledger
must be exactly the releases the clients were told about: none lost, none applied twice (W8, W12, W13).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from config.bootstrap import Container
from config.keys import key_ring
from tests.conftest import Cast, wait_for
from tests.integration.stress_client import Cast as ClientCast
from tests.integration.stress_client import hold_a_transaction_open, run_batch_client, run_client
from tests.integration.support import balances, declare, fx10_cytokine, grant, ledger
from workflow.store.audit_trail import verify_trail
from workflow.store.signing import KeyRing
from workflow.store.tables import (
    CertificateLineRow,
    DeclarationLineRow,
    DeclarationRow,
    LedgerEntryRow,
    ReceiptQueueRow,
    WriteOffReceiptRow,
)

D = Decimal


def _race(
    container: Container, cast: Cast, database_url: str, tmp_path: Path, processes: int, operations: int
) -> tuple[str, list[dict]]:
    number = grant(container, cast, fx10_cytokine(300), fx10_cytokine(300), fx10_cytokine(300))
    client_cast = ClientCast(cast.applicant, cast.port_officer, cast.decider)
    jobs = [(database_url, str(tmp_path), number, client_cast, 3, operations, seed) for seed in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        tallies = pool.map(run_client, jobs)
    return number, tallies


def _derived(container: Container) -> dict[int, tuple[Decimal, Decimal]]:
    """committed = Σcommit − Σreverse; reserved = Σreserve − Σrelease − Σcommit, per line, from the ledger alone."""
    effects = {"commit": (1, -1), "reverse": (-1, 0), "reserve": (0, 1), "release": (0, -1)}
    totals: dict[int, tuple[Decimal, Decimal]] = {}
    with container.sessions() as session:
        entries = session.execute(select(LedgerEntryRow.certificate_line_id, LedgerEntryRow.kind, LedgerEntryRow.qty))
        for line, kind, qty in entries:
            committed, reserved = totals.get(line, (D(0), D(0)))
            on_committed, on_reserved = effects[kind]
            totals[line] = (committed + on_committed * qty, reserved + on_reserved * qty)
    return totals


def _assert_ledger_is_exact(container: Container, number: str, tallies: list[dict]) -> None:
    derived = _derived(container)
    with container.sessions() as session:
        lines = session.scalars(select(CertificateLineRow)).all()
        # One commit entry per line a released declaration drew on: a declaration citing two lines has two.
        commits = session.execute(
            select(DeclarationRow.declaration_no, LedgerEntryRow.certificate_line_id)
            .join(LedgerEntryRow, LedgerEntryRow.declaration_id == DeclarationRow.id)
            .where(LedgerEntryRow.kind == "commit")
        ).all()
        cited = session.execute(
            select(DeclarationRow.declaration_no, DeclarationLineRow.certificate_line_id)
            .join(DeclarationLineRow, DeclarationLineRow.declaration_id == DeclarationRow.id)
            .where(DeclarationLineRow.drawn_qty > 0)
        ).all()
    assert len(set(commits)) == len(commits), "a line of a declaration was committed twice"
    committed_declarations = sorted({no for no, _line in commits})
    assert {pair for pair in cited if pair[0] in committed_declarations} == set(commits), "a line's commit is missing"
    for line in lines:
        assert line.committed_qty + line.reserved_qty <= line.approved_qty, "over-drawn"
        assert (line.committed_qty, line.reserved_qty) == derived.get(line.id, (D(0), D(0))), f"line {line.line_no}"
    told_released = sorted(no for tally in tallies for no in tally["released_nos"])
    assert committed_declarations == told_released, "a write-off was lost or applied twice"


def _assert_trail_intact(container: Container, client_instance: Path) -> None:
    """The racing commits still form one unbroken hash chain, and every line's receipts add up to its balance.

    Each commit and reversal has exactly one receipt once the last run of the sequencer has emptied the queue.
    """
    container.sequencer.seal()  # beat's run: the racers' events are chained in one sequence and the head signed
    keys = key_ring(container.settings).public_keys() | KeyRing(client_instance / "keys").public_keys()
    with container.engine.connect() as connection:
        report = verify_trail(connection, keys)
        receipted = select(func.count()).where(LedgerEntryRow.kind.in_(("commit", "reverse")))
        movements = connection.execute(receipted).scalar_one()
        receipts = connection.execute(select(func.count()).select_from(WriteOffReceiptRow)).scalar_one()
        waiting = connection.execute(select(func.count()).select_from(ReceiptQueueRow)).scalar_one()
    assert report.ok, report.as_dict()
    assert report.receipts_checked > 0 and report.receipts_waiting == 0
    assert (receipts, waiting) == (movements, 0)


def test_sixteen_processes_racing_on_three_hot_lines_never_overdraw_lose_or_duplicate(
    make_container: Callable[..., Container], postgres_url: str, tmp_path: Path
) -> None:
    from tests.conftest import _empty_tables, make_cast

    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    number, tallies = _race(container, cast, postgres_url, tmp_path, processes=16, operations=120)
    _assert_ledger_is_exact(container, number, tallies)
    _assert_trail_intact(container, tmp_path)
    assert sum(t["released"] for t in tallies) > 50 and sum(t["held"] for t in tallies) > 0  # quota ran out
    assert sum(t["replays"] for t in tallies) > 0 and sum(t["reversed"] for t in tallies) > 0
    assert sum(t["batches"] for t in tallies) > 0 and sum(t["receipts_signed"] for t in tallies) > 0
    assert {line: used <= D(300) for line, (_a, used, _r) in balances(container, number).items()} == {
        1: True,
        2: True,
        3: True,
    }


def test_batches_fighting_over_the_last_of_one_line_all_get_an_answer(
    make_container: Callable[..., Container], postgres_url: str, tmp_path: Path
) -> None:
    """Eight processes' batches on one line until it is gone: every batch is answered (a race lost between a read and
    the UPDATE is run again, with the lines locked first), exactly the quota is written off and the rest is held."""
    from tests.conftest import _empty_tables, make_cast

    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    number = grant(container, cast, fx10_cytokine(150))
    client_cast = ClientCast(cast.applicant, cast.port_officer, cast.decider)
    jobs = [(postgres_url, str(tmp_path), number, client_cast, 6, seed) for seed in range(8)]
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        tallies = pool.map(run_batch_client, jobs)
    assert sum(t["batches"] for t in tallies) == 48
    assert sum(t["released"] + t["inspected"] for t in tallies) == 75  # 150 units, two per declaration
    assert sum(t["held"] for t in tallies) == 48 * 5 - 75
    _assert_ledger_is_exact(container, number, tallies)
    _assert_trail_intact(container, tmp_path)


def test_four_processes_on_one_sqlite_file_keep_the_ledger_exact(
    make_container: Callable[..., Container], sqlite_url: str, tmp_path: Path
) -> None:
    from tests.conftest import _empty_tables, make_cast

    _empty_tables(sqlite_url)
    container = make_container(sqlite_url)
    cast = make_cast(container)
    number, tallies = _race(container, cast, sqlite_url, tmp_path, processes=4, operations=60)
    _assert_ledger_is_exact(container, number, tallies)
    _assert_trail_intact(container, tmp_path)


def test_a_client_killed_in_the_middle_of_a_write_off_leaves_nothing_half_written(
    make_container: Callable[..., Container], postgres_url: str, tmp_path: Path
) -> None:
    from tests.conftest import _empty_tables, make_cast

    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    cast = make_cast(container)
    number = grant(container, cast, fx10_cytokine(100))
    signal_file = tmp_path / "in-transaction"
    client = multiprocessing.get_context("spawn").Process(
        target=hold_a_transaction_open,
        args=(
            (
                postgres_url,
                str(tmp_path),
                number,
                ClientCast(cast.applicant, cast.port_officer, cast.decider),
                str(signal_file),
            ),
        ),
    )
    client.start()
    wait_for(signal_file.exists, timeout=60, what="the client to reach the middle of its write-off")
    assert client.pid is not None
    os.kill(client.pid, signal.SIGKILL)
    client.join(timeout=30)
    # The server rolls the dead client's transaction back and frees the certificate lock: the next write-off runs.
    after = wait_for(lambda: declare(container, cast, number, 5), timeout=60, what="the lock to be released")
    assert after["state"] in ("released", "inspection")
    with container.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(DeclarationRow).where(DeclarationRow.declaration_no == "KILLED-1")
            )
            == 0
        )
    assert all(qty == D(5) for _kind, qty in ledger(container, number))
    assert balances(container, number)[1][1] + balances(container, number)[1][2] == D(5)
