"""The dashboard's kept counts: always a recount's figures, through every door, races, folds and the backfill.

The counts are appended as deltas in the transaction of each change and folded by a sweep
(workflow/store/district_counts.py); whatever the moment, folded totals plus pending deltas equal a full recount.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from config.bootstrap import Container
from tests.conftest import Cast, _empty_tables, make_cast
from tests.integration.count_race_client import RaceCast, race_transitions
from tests.integration.support import declare, file_application, fx01_serum, fx10_cytokine, grant, migrate_down_and_up
from workflow.domain import commands as c
from workflow.store import district_counts
from workflow.store.api_reads import Scope
from workflow.store.tables import DistrictCountDeltaRow
from workflow.store.ui_queries import dashboard


def _kept(container: Container) -> dict[tuple[str, str], int]:
    with container.engine.connect() as connection:
        return district_counts.counts(connection)


def _recount(container: Container) -> dict[tuple[str, str], int]:
    with container.engine.connect() as connection:
        return district_counts.recount(connection)


def _pending(container: Container) -> int:
    with container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(DistrictCountDeltaRow)) or 0)


def _fold(container: Container) -> int:
    with container.sessions() as session:
        folded = district_counts.fold(session)
        session.commit()
    return folded


def _reviewed(container: Container, cast: Cast) -> int:
    application_id = file_application(container, cast)
    for step in (c.SubmitApplication, c.AcceptApplication, c.StartReview):
        actor = {c.SubmitApplication: cast.applicant, c.AcceptApplication: cast.acceptor}.get(step, cast.reviewer)
        container.bus.handle(step(actor, application_id))
    return application_id


def _mixed_workload(container: Container, cast: Cast) -> None:
    """Grants (two grades, so both paperless and paper may arise), a denial, a withdrawal, drafts, declarations."""
    certificate_no = grant(container, cast, fx10_cytokine(300))
    grant(container, cast, fx01_serum())
    container.bus.handle(c.DenyApplication(cast.decider, _reviewed(container, cast), "用途不明 purpose unclear"))
    withdrawn = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, withdrawn))
    container.bus.handle(c.WithdrawApplication(cast.applicant, withdrawn, "not needed"))
    file_application(container, cast)
    _reviewed(container, cast)
    held = declare(container, cast, certificate_no, 10, inspected=True)
    container.bus.handle(c.RecordInspection(cast.port_officer, held["declaration_id"], outcome="pass"))
    declare(container, cast, certificate_no, 5)


def test_the_kept_counts_equal_a_recount_before_and_after_the_fold(container: Container, cast: Cast) -> None:
    _mixed_workload(container, cast)
    recount = _recount(container)
    assert {counter for _district, counter in recount} >= {"application.granted", "application.denied",
                                                           "application.withdrawn", "application.draft",
                                                           "application.under_review"}  # fmt: skip
    assert _pending(container) > 0
    assert _kept(container) == recount

    assert _fold(container) > 0
    assert _pending(container) == 0
    assert _kept(container) == recount
    with container.sessions() as session:
        figures = dashboard(session, Scope(district="xiamen"))
    prefix = district_counts.STATE_PREFIX
    assert figures["by_state"] == {counter.removeprefix(prefix): n for (_d, counter), n in recount.items()
                                   if counter.startswith(prefix)}  # fmt: skip
    certificates = figures["paperless"]["paperless"] + figures["paperless"]["paper"]
    assert certificates == recount.get(("xiamen", "application.granted"), 0) == 2


def test_changes_after_a_fold_add_to_the_folded_totals(container: Container, cast: Cast) -> None:
    _reviewed(container, cast)
    _fold(container)
    grant(container, cast, fx10_cytokine())
    assert _pending(container) > 0
    assert _kept(container) == _recount(container)
    _fold(container)
    assert _kept(container) == _recount(container)


def test_the_dashboards_count_read_is_a_few_rows_whatever_the_number_of_applications(
    container: Container, cast: Cast
) -> None:
    """The statements the dashboard sends never name the applications or certificates tables, and stay as many."""

    def statements_of_a_dashboard() -> list[str]:
        seen: list[str] = []
        listener: Callable[..., None] = lambda _c, _cur, statement, *_rest: seen.append(statement)  # noqa: E731
        event.listen(container.engine, "before_cursor_execute", listener)
        try:
            with container.sessions() as session:
                dashboard(session, Scope(district="xiamen"))
        finally:
            event.remove(container.engine, "before_cursor_execute", listener)
        return seen

    grant(container, cast, fx10_cytokine())
    before = statements_of_a_dashboard()
    for _ in range(3):
        _reviewed(container, cast)
    after = statements_of_a_dashboard()
    assert len(after) == len(before)
    counting = [s for s in after if "district_counts" in s]
    assert len(counting) == 2  # the counts now, and the period's counts by day
    assert not any("applications" in statement or "certificates" in statement for statement in counting)
    if container.engine.dialect.name == "postgresql":
        with container.engine.connect() as connection:
            plan = connection.execute(text("EXPLAIN " + _bound_count_read())).scalars().all()
        assert not any("applications" in line or "certificates" in line for line in plan)


def _bound_count_read() -> str:
    """The dashboard's count read with its district inlined, for EXPLAIN."""
    from sqlalchemy.dialects import postgresql

    from workflow.store.tables import DistrictCountRow

    folded = select(DistrictCountRow.counter, DistrictCountRow.value.label("n")).where(
        DistrictCountRow.district == "xiamen"
    )
    pending = select(DistrictCountDeltaRow.counter, DistrictCountDeltaRow.delta.label("n")).where(
        DistrictCountDeltaRow.district == "xiamen"
    )
    both = folded.union_all(pending).subquery()
    query = select(both.c.counter, func.sum(both.c.n)).group_by(both.c.counter)
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


@pytest.mark.postgres
def test_two_processes_racing_one_districts_transitions_never_lose_or_double_a_count(
    make_container: Callable[..., Container], postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL only: SQLite has one writer at a time, so nothing there can race."""
    _empty_tables(postgres_url)
    database_url = postgres_url
    container = make_container(postgres_url)
    cast = make_cast(container)
    shared = [file_application(container, cast) for _ in range(16)]
    for application_id in shared:
        container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    racers = RaceCast(cast.applicant, cast.acceptor, cast.enterprise_id)
    instance = str(tmp_path / "instance")
    jobs = [(database_url, instance, racers, shared, accepting, seed) for seed, accepting in enumerate((True, False))]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        running = pool.map_async(race_transitions, jobs)
        while not running.ready():  # a fold runs beside the racers, as the beat would
            _fold(container)
            running.wait(0.05)
        results = running.get(timeout=120)
    assert _kept(container) == _recount(container)
    _fold(container)
    kept = _kept(container)
    assert kept == _recount(container)
    # Withdrawal may follow acceptance, so a file can go both ways in turn; but it ends in exactly one of them.
    assert kept.get(("xiamen", "application.accepted"), 0) + kept.get(("xiamen", "application.withdrawn"), 0) == 16
    assert ("xiamen", "application.submitted") not in kept
    assert kept.get(("xiamen", "application.draft"), 0) == sum(len(result["filed"]) for result in results)


# -- the backfill of migration 0015 ---------------------------------------------------------------------------------


def test_the_backfill_counts_the_rows_already_there(
    own_migrated_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(own_migrated_url)
    cast = make_cast(container)
    _mixed_workload(container, cast)
    expected = _kept(container)  # the counts the changes kept, one by one
    assert expected == _recount(container)
    engine = migrate_down_and_up(container, own_migrated_url, "0014")
    with engine.connect() as connection:
        assert district_counts.counts(connection) == expected
        assert connection.scalar(text("SELECT COUNT(*) FROM district_count_deltas")) == 0
        kept_rows = "SELECT COUNT(*) FROM district_counts WHERE counter NOT LIKE 'decided.%'"
        assert connection.scalar(text(kept_rows)) == len(expected)  # the decisions' counts: recount_decisions
    engine.dispose()


# -- the beat task --------------------------------------------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_folds_the_deltas_with_the_task_that_beat_schedules(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., Any],
) -> None:
    from tasks.app import beat_schedule
    from tests.conftest import _empty_tables, wait_for, wait_for_worker

    _empty_tables(postgres_url)
    container = make_container(postgres_url, redis_url=redis_url)
    assert beat_schedule(container)["fold-district-counts"]["task"] == "specgoods.fold_district_counts"
    grant(container, make_cast(container), fx10_cytokine(100))
    assert _pending(container) > 0
    worker = start_worker(postgres_url, redis_url, concurrency=1)
    wait_for_worker(container, worker)
    container.celery.send_task("specgoods.fold_district_counts", queue="sweeps")
    wait_for(lambda: _pending(container) == 0, timeout=90, what="the worker to fold the deltas")
    assert _kept(container) == _recount(container)
