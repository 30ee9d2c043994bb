"""R73 / E3 under concurrency on PostgreSQL: a credit downgrade racing declarations dated either side of its date.

Threads on their own connections: the officer's change and the port's declarations run at once. Whatever the
interleaving, each declaration's route carries the tier in force on its own date in the final history (an audit
replay finds what the declaration used), and no declaration waits for the change's lock on the enterprise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select, text

from config.bootstrap import Container
from tests.conftest import Cast, FixedClock, _empty_tables, make_cast, wait_for
from tests.integration.support import declare, fx10_cytokine, grant
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.domain.credit import credit_as_of
from workflow.domain.credit_events import ApplyCreditRestorations, CreditChangeKind, CreditGround, RecordCreditChange
from workflow.domain.policy import CreditTier
from workflow.store.tables import CreditRecordRow, DeclarationRow

D = date(2016, 6, 1)


@pytest.fixture
def pg(make_container: Callable[..., Container], postgres_url: str) -> Container:
    _empty_tables(postgres_url)
    return make_container(postgres_url)


def change(cast: Cast, kind: CreditChangeKind, tier: CreditTier, start: date, ground: CreditGround):
    return RecordCreditChange(cast.decider, cast.enterprise_id, kind, tier, start, ground, "查实")


def run_together(jobs: list[Callable[[], object]]) -> list[threading.Thread]:
    """Start every job at one barrier, each on its own thread (and so its own pooled connection)."""
    barrier, failures = threading.Barrier(len(jobs)), []

    def run(job: Callable[[], object]) -> None:
        barrier.wait(timeout=30)
        try:
            job()
        except Exception as error:  # noqa: BLE001 — re-raised by `join`: a thread's exception is otherwise lost
            failures.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    threads.append(_Failures(failures))
    return threads


class _Failures(threading.Thread):
    """A finished thread that re-raises what the jobs raised when joined and checked."""

    def __init__(self, failures: list[BaseException]) -> None:
        super().__init__()
        self.failures = failures

    def check(self) -> None:
        assert self.failures == []


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        if isinstance(thread, _Failures):
            continue
        thread.join(timeout=120)
        assert not thread.is_alive()
    [checker] = [thread for thread in threads if isinstance(thread, _Failures)]
    checker.check()


def declaring(container: Container, cast: Cast, certificate_no: str, on: date, number: str) -> Callable[[], object]:
    return lambda: declare(container, cast, certificate_no, 1, on=on.isoformat(), number=number)


def routes(container: Container) -> list[tuple[str, date, str | None]]:
    """Every declaration with the tier its route used (None: refused on the documents, so never routed)."""
    with container.sessions() as session:
        rows = session.execute(select(DeclarationRow.declaration_no, DeclarationRow.declared_on, DeclarationRow.route))
        return [(number, on, (route or {}).get("credit_tier")) for number, on, route in rows]


def replayed(container: Container, cast: Cast, on: date) -> CreditTier:
    with container.deps.uow() as uow:
        history = uow.credit.history(cast.enterprise_id)
    return credit_as_of(history, on, container.deps.policies.policy_for("xiamen", on)).tier


def test_r73_e3_a_downgrade_racing_declarations_either_side_of_its_date_each_uses_its_own_dates_tier(
    pg: Container, clock: FixedClock
):
    cast = make_cast(pg)
    clock.today_value = D - timedelta(days=3)  # granted before every date declared below
    certificate_no = grant(pg, cast, fx10_cytokine(1000))
    clock.today_value = D
    # Day D: the downgrade from D+1 is recorded while declarations dated D-1 and D are filed, and the enterprise's
    # row is held as a concurrent credit change holds it, so this change waits: the declarations must not.
    downgrade = change(cast, CreditChangeKind.DISCREDIT, CreditTier.DISCREDITED, D + timedelta(days=1),
                       CreditGround.SMUGGLING)  # fmt: skip
    with pg.engine.connect() as blocker:
        blocker.execute(text("SELECT id FROM enterprises WHERE id = :id FOR NO KEY UPDATE"), {"id": cast.enterprise_id})
        changing = run_together([lambda: pg.bus.handle(downgrade)])
        filings = [declaring(pg, cast, certificate_no, D - timedelta(days=n % 2), f"A{n:04d}") for n in range(8)]
        join(run_together(filings))
        assert changing[0].is_alive()  # still waiting for the enterprise: the declarations did not
        blocker.rollback()
    join(changing)
    # Day D+1: a second change (restoration from D+2) races declarations dated D (backdated) and D+1.
    clock.today_value = D + timedelta(days=1)
    restore = change(cast, CreditChangeKind.RESTORATION, CreditTier.GENERAL, D + timedelta(days=2),
                     CreditGround.CREDIT_REPAIRED)  # fmt: skip
    filings = [declaring(pg, cast, certificate_no, D + timedelta(days=n % 2), f"B{n:04d}") for n in range(8)]
    join(run_together([lambda: pg.bus.handle(restore), *filings]))

    found = routes(pg)
    assert len(found) == 16
    for number, on, tier in found:
        assert tier == replayed(pg, cast, on), number  # an audit replay finds the tier the declaration used
    by_date = {on: {tier for _, day, tier in found if day == on} for _, on, _ in found}
    assert by_date == {
        D - timedelta(days=1): {"general"},
        D: {"general"},
        D + timedelta(days=1): {"discredited"},
    }


def test_r69_two_restoration_sweeps_at_once_restore_each_enterprise_once(pg: Container, clock: FixedClock):
    casts = [make_cast(pg, suffix=str(n)) for n in range(6)]
    with pg.sessions() as session, session.begin():
        for cast in casts:
            session.execute(
                insert(CreditRecordRow).values(
                    enterprise_id=cast.enterprise_id,
                    tier="discredited",
                    regime="order-251",
                    effective_from=date(2014, 1, 1),
                )
            )
    counts: list[int] = []
    join(run_together([lambda: counts.append(pg.bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR)))] * 2))
    wait_for(lambda: len(counts) == 2, what="both sweeps answered")
    assert sum(counts) == 6
    assert pg.bus.handle(ApplyCreditRestorations(SYSTEM_ACTOR)) == 0
    with pg.sessions() as session:
        opened = session.scalars(select(CreditRecordRow.tier).where(CreditRecordRow.effective_to.is_(None)))
        assert sorted(opened) == ["general"] * 6
