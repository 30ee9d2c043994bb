"""Client processes for the ledger stress and crash tests (a separate module so 'spawn' children can import it)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from tests.conftest import FixedClock
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.errors import DomainError
from workflow.domain.goods import Direction
from workflow.domain.ledger import ReversalReason


@dataclass(frozen=True)
class Cast:
    applicant: Actor
    port_officer: Actor
    decider: Actor


@dataclass
class Tally:
    released: int = 0
    held: int = 0
    inspected: int = 0
    replays: int = 0
    batches: int = 0
    withdrawn: int = 0
    reversed: int = 0
    refused: int = 0
    receipts_signed: int = 0  # by this client's runs of the receipt sequencer, racing the others' write-offs
    released_nos: list[str] = field(default_factory=list)


def _container(database_url: str, instance: str) -> Container:
    return bootstrap(
        load_settings(database_url=database_url, instance_path=Path(instance)),
        clock=FixedClock(date(2016, 6, 1)),
        relay_after_commit=False,
    )


def run_client(args: tuple[str, str, str, Cast, int, int, int]) -> dict[str, Any]:
    """Random declarations (some replayed), withdrawals and two-officer reversals against a few lines."""
    database_url, instance, certificate_no, cast, lines, operations, seed = args
    container, rng, tally = _container(database_url, instance), random.Random(seed), Tally()
    open_inspections: list[int] = []
    previous: c.DeclareShipment | c.DeclareShipments | None = None
    for index in range(operations):
        if index % 10 == 9:  # beat's run, here in every client at once: sequencers race each other and the writers
            tally.receipts_signed += container.sequencer.seal_receipts()
        roll = rng.random()
        if previous is not None and roll < 0.1:
            _replay(container, previous, tally)
        elif open_inspections and roll < 0.2:
            _withdraw(container, cast, open_inspections.pop(), tally)
        elif roll < 0.27:
            _reverse_one(container, cast, rng, tally)
        elif roll < 0.4:
            # A feed's burst: up to ten declarations, some on two lines, the lines cited in random order.
            shipments = tuple(
                _shipment(cast, certificate_no, f"S{seed:03d}-{index:05d}-{item}", rng, lines, rng.randint(1, 2))
                for item in range(rng.randint(2, 10))
            )
            previous = c.DeclareShipments(cast.applicant, shipments, idempotency_key=f"k-{seed}-{index}")
            for view in container.bus.handle(previous)["declarations"]:
                _count(view, tally, open_inspections)
            tally.batches += 1
        else:
            previous = _shipment(cast, certificate_no, f"S{seed:03d}-{index:05d}", rng, lines, 1)
            previous = replace(previous, idempotency_key=f"k-{seed}-{index}")
            _count(container.bus.handle(previous), tally, open_inspections)
    container.dispose()
    return tally.__dict__


def _shipment(
    cast: Cast, certificate_no: str, number: str, rng: random.Random, lines: int, cited: int
) -> c.DeclareShipment:
    drawn = tuple((line, Decimal(rng.randint(1, 5))) for line in rng.sample(range(1, lines + 1), cited))
    return c.DeclareShipment(cast.applicant, number, certificate_no, date(2016, 6, 1), Direction.ENTRY, drawn)


def _count(result: dict[str, Any], tally: Tally, open_inspections: list[int]) -> None:
    if result["state"] == "released":
        tally.released += 1
        tally.released_nos.append(result["declaration_no"])
    elif result["state"] == "inspection":
        tally.inspected += 1
        open_inspections.append(result["declaration_id"])
    else:
        tally.held += 1


def _replay(container: Container, command: c.DeclareShipment | c.DeclareShipments, tally: Tally) -> None:
    result = container.bus.handle(command)
    assert result.get("replayed") is True, result
    tally.replays += 1


def _withdraw(container: Container, cast: Cast, declaration_id: int, tally: Tally) -> None:
    container.bus.handle(c.WithdrawDeclaration(cast.applicant, declaration_id, "deleted"))
    tally.withdrawn += 1


def _reverse_one(container: Container, cast: Cast, rng: random.Random, tally: Tally) -> None:
    """Reverse one unit of a random recent commit; refusals (nothing left to reverse) are expected."""
    from sqlalchemy import select

    from workflow.store.tables import LedgerEntryRow

    with container.sessions() as session:
        commits = session.scalars(
            select(LedgerEntryRow.id)
            .where(LedgerEntryRow.kind == "commit")
            .order_by(LedgerEntryRow.id.desc())
            .limit(20)
        ).all()
    if not commits:
        return
    try:
        request = container.bus.handle(
            c.RequestReversal(
                cast.port_officer, rng.choice(commits), Decimal(1), ReversalReason.CLERICAL_ERROR, "stress"
            )
        )
        container.bus.handle(c.DecideReversal(cast.decider, request["reversal_id"], reason="ok"))
        tally.reversed += 1
    except DomainError:
        tally.refused += 1


def hold_a_transaction_open(args: tuple[str, str, str, Cast, str]) -> None:
    """Start a write-off, reach the ledger insert, tell the parent, and wait to be killed mid-transaction."""
    database_url, instance, certificate_no, cast, signal_file = args
    from workflow.store.uow import SqlUnitOfWork

    real_append = SqlUnitOfWork.write_declared  # the declaration's rows and its line's draw, one statement

    def append_then_hang(self: SqlUnitOfWork, entries: Any, changes: Any) -> None:
        real_append(self, entries, changes)
        self.session.flush()
        Path(signal_file).write_text("in transaction")
        time.sleep(600)

    SqlUnitOfWork.write_declared = append_then_hang  # type: ignore[method-assign]
    container = _container(database_url, instance)
    container.bus.handle(
        c.DeclareShipment(
            cast.applicant, "KILLED-1", certificate_no, date(2016, 6, 1), Direction.ENTRY, ((1, Decimal(7)),)
        )
    )


def run_batch_client(args: tuple[str, str, str, Cast, int, int]) -> dict[str, Any]:
    """Batches of five two-unit declarations on line 1 only, back to back: a quota fought over until it is gone."""
    database_url, instance, certificate_no, cast, batches, seed = args
    container, tally = _container(database_url, instance), Tally()
    for index in range(batches):
        shipments = tuple(
            c.DeclareShipment(
                cast.applicant, f"F{seed:03d}-{index:03d}-{item}", certificate_no, date(2016, 6, 1), Direction.ENTRY,
                ((1, Decimal(2)),),
            )
            for item in range(5)
        )  # fmt: skip
        for view in container.bus.handle(c.DeclareShipments(cast.applicant, shipments))["declarations"]:
            _count(view, tally, [])
        tally.batches += 1
    container.dispose()
    return tally.__dict__
