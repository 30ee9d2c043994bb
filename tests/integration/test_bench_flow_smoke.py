"""The flow and HTTP benchmarks' own checks on short runs with tiny sizes: correctness only, no timing asserted."""

from __future__ import annotations

import importlib
import tempfile

import psycopg
import pytest

from tests.conftest import make_cast

# bench/ is a script folder, not an installed package.
flow = importlib.import_module("bench.flow")
http_writeoff = importlib.import_module("bench.http_writeoff")
scratch = importlib.import_module("bench.scratch")


@pytest.mark.postgres
def test_the_flow_benchmark_grants_every_instance_it_starts_with_one_audit_event_per_step() -> None:
    options = flow.Options(clients=(1,), seconds=1.0, warmup=0.2, history=20, samples=2)
    result = flow.run(options)
    assert [(cell.side, cell.errors, cell.broken, cell.ran_out) for cell in result.cells] == [
        ("baseline", 0, 0, False),
        ("project", 0, 0, False),
    ]
    assert all(cell.instances > 0 for cell in result.cells)  # the check saw real instances
    history = result.history
    assert history is not None and history.history_visible and history.broken == []
    assert set(history.small_p50_ms) == set(history.large_p50_ms) == set(flow.STEPS)
    assert result.ok


@pytest.mark.postgres
def test_the_flow_checks_flag_an_instance_short_of_granted_and_pass_a_granted_one() -> None:
    with scratch.scratch_database("flowcheck") as url, tempfile.TemporaryDirectory() as instance:
        container = flow.make_container(url, instance)
        try:
            cast = make_cast(container, suffix="K")
            done, stopped = flow.ready_drafts(container, cast, 2)
            flow.run_flow(container, flow.crew_of(cast), done)
            container.bus.handle(flow.c.SubmitApplication(cast.applicant, stopped))
        finally:
            container.dispose()
        dsn = scratch.plain_dsn(url)
        flagged = flow.broken_project_instances(dsn, [done, stopped])
        with psycopg.connect(dsn) as conn:
            conn.execute(flow.BASELINE_TABLE)
            rows = conn.execute(
                "INSERT INTO bench_flow (state, version) VALUES ('granted', %s), ('draft', 0) RETURNING id",
                (len(flow.STEPS),),
            )
            granted, draft = (row[0] for row in rows.fetchall())
            conn.commit()
        flagged_rows = flow.broken_baseline_instances(dsn, [granted, draft])
    assert [line.split(":")[0] for line in flagged] == [f"application {stopped}"]
    assert "submitted" in flagged[0] and "submit 1, screen 0" in flagged[0]
    assert flagged_rows == [f"row {draft}: draft/0"]


@pytest.mark.postgres
@pytest.mark.redis
def test_the_http_benchmark_leaves_each_ledger_equal_to_what_the_servers_answered() -> None:
    options = http_writeoff.Options(clients=(2,), seconds=1.0, warmup=0.2, boot_warmup=0.5)
    cells = http_writeoff.run(options)
    assert [(cell.side, cell.ledger.ok, cell.outcomes.get("error", 0)) for cell in cells] == [
        ("baseline", True, 0),
        ("project", True, 0),
    ]
    assert all(cell.outcomes.get("released", 0) > 0 for cell in cells)  # the check saw real write-offs
    assert all(cell.ledger.committed == cell.ledger.released > 0 for cell in cells)
