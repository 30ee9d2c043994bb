"""Metrics (#18): /metrics after real requests, a real task on a real worker, gunicorn's multiprocess sum, and the
scrape-time gauges read from PostgreSQL through indexes (EXPLAIN) and from Redis.

Series are read by parsing the exposition text, as Prometheus does; counters are compared before and after, since
this test process's registry lives as long as the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select

from config.bootstrap import Container
from config.celery_config import QUEUES
from tasks.app import start_embedded_worker
from tests.conftest import Cast, FixedClock, WorkerProcess, _empty_tables, make_cast, wait_for, wait_for_worker
from tests.integration.support import declare, file_application, fx10_cytokine, grant
from web import create_app
from workflow.domain import commands as c
from workflow.store.dead_letters import SqlDeadLetters
from workflow.store.tables import ApplicationRow, OutboxRow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
ROUTE = "/api/v1/applications/<int:application_id>"


def _samples(exposition: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- requests, by route ----------------------------------------------------------------------------------------------


def test_requests_are_counted_by_url_rule_and_status_and_the_raw_path_never_becomes_a_label(
    make_container: Callable[..., Container], sqlite_url: str
) -> None:
    client = create_app(make_container(sqlite_url)).test_client()

    def unauthenticated() -> float:
        labels = {"route": ROUTE, "method": "GET", "status": "401"}
        return value(_samples(client.get("/metrics").get_data(as_text=True)), "specgoods_http_requests_total", **labels)

    before = unauthenticated() or 0.0
    for application_id in (123457, 123458, 123459):
        assert client.get(f"/api/v1/applications/{application_id}").status_code == 401
    body = client.get("/metrics").get_data(as_text=True)
    assert unauthenticated() == before + 3
    # In no label (a sample's value, a start time in seconds, may hold those digits by chance: it once did)
    assert not [labels for _, labels in _samples(body) if any("123458" in text for _, text in labels)]
    assert value(_samples(body), "specgoods_http_request_duration_seconds_count", route=ROUTE, method="GET")
    client.get("/no/such/page/987654")
    assert value(_samples(client.get("/metrics").get_data(as_text=True)), "specgoods_http_requests_total",
                 route="unmatched", method="GET", status="404")  # fmt: skip


def test_metrics_ask_for_the_bearer_token_when_one_is_set_and_answer_only_loopback_clients_otherwise(
    make_container: Callable[..., Container], sqlite_url: str
) -> None:
    guarded = create_app(make_container(sqlite_url, metrics_token="a-long-scrape-token")).test_client()
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    remote = {"REMOTE_ADDR": "10.20.30.40"}
    token = {"Authorization": "Bearer a-long-scrape-token"}
    assert guarded.get("/metrics", headers=token, environ_base=remote).status_code == 200
    open_ = create_app(make_container(sqlite_url)).test_client()
    assert open_.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert open_.get("/metrics", environ_base=remote).status_code == 403
    proxied = {"X-Forwarded-For": "203.0.113.9"}  # a proxy on this host: its clients are not loopback clients
    assert open_.get("/metrics", headers=proxied).status_code == 403


# -- the gauges read at scrape time ---------------------------------------------------------------------------------


@pytest.fixture
def busy(make_container: Callable[..., Container], postgres_url: str, redis_url: str) -> tuple[Container, Cast]:
    """A granted certificate with one write-off and one held shipment, a file under review, a dead letter and a
    task waiting in Redis; the outbox rows stay unpublished (no relay after commit)."""
    _empty_tables(postgres_url)
    container = make_container(postgres_url, redis_url=redis_url)
    cast = make_cast(container)
    number = grant(container, cast, fx10_cytokine(100))
    assert declare(container, cast, number, 30)["state"] == "released"
    assert declare(container, cast, number, 150)["state"] == "port_review"
    under_review = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, under_review))
    container.bus.handle(c.AcceptApplication(cast.acceptor, under_review))
    with container.sessions() as session, session.begin():
        SqlDeadLetters(session, container.deps.clock.now).record("specgoods.send_email", "t-1", {}, "SMTP refused")
    container.celery.send_task("specgoods.screen_application", kwargs={"application_id": under_review})
    return container, cast


def _scrape(container: Container) -> Samples:
    response = create_app(container).test_client().get("/metrics")
    assert response.status_code == 200
    return _samples(response.get_data(as_text=True))


def test_a_scrape_reports_the_outbox_backlog_dead_letters_and_each_queues_depth(busy: tuple[Container, Cast]) -> None:
    container, _cast = busy
    with container.sessions() as session:
        unpublished = session.scalar(select(func.count()).where(OutboxRow.published_at.is_(None)))
    samples = _scrape(container)
    assert unpublished and value(samples, "specgoods_outbox_unpublished") == unpublished
    assert (value(samples, "specgoods_outbox_oldest_unpublished_age_seconds") or -1) >= 0
    assert value(samples, "specgoods_outbox_incomplete") == 0
    assert value(samples, "specgoods_dead_letters") == 1
    depths = {queue: value(samples, "specgoods_queue_depth", queue=queue) for queue in QUEUES}
    assert depths == {queue: 1.0 if queue == "screening" else 0.0 for queue in QUEUES}
    assert value(samples, "specgoods_scrape_part_up", part="database") == 1
    assert value(samples, "specgoods_scrape_part_up", part="broker") == 1


def test_a_scrape_reports_per_district_applications_write_offs_held_declarations_and_clocks_r19(
    busy: tuple[Container, Cast], clock: FixedClock
) -> None:
    container, _cast = busy
    samples = _scrape(container)
    xiamen = {"district": "xiamen"}
    assert value(samples, "specgoods_applications", state="granted", **xiamen) == 1
    assert value(samples, "specgoods_applications", state="accepted", **xiamen) == 1
    assert value(samples, "specgoods_declarations_held", state="port_review", **xiamen) == 1
    assert value(samples, "specgoods_writeoffs_last_minute", **xiamen) == 1
    assert value(samples, "specgoods_clocks_due_soon", **xiamen) == 0
    assert value(samples, "specgoods_clocks_overdue", **xiamen) == 0
    with container.sessions() as session:
        due = session.scalar(select(ApplicationRow.decision_due_on).where(ApplicationRow.state == "accepted"))
    assert due is not None
    clock.today_value = due - timedelta(days=1)
    assert value(_scrape(container), "specgoods_clocks_due_soon", **xiamen) == 1
    clock.today_value = due + timedelta(days=1)
    samples = _scrape(container)
    assert value(samples, "specgoods_clocks_overdue", **xiamen) == 1
    assert value(samples, "specgoods_clocks_due_soon", **xiamen) == 0


BIG_TABLES = ("applications", "declarations", "ledger_entries", "certificates", "outbox", "district_counts")


def test_every_gauge_query_of_a_scrape_has_an_index_path_on_postgresql(busy: tuple[Container, Cast]) -> None:
    """With sequential scans priced out, no plan may still scan a table that grows with the history."""
    container, _cast = busy
    statements: list[tuple[str, Any]] = []

    def captured(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(container.engine, "before_cursor_execute", captured)
    try:
        _scrape(container)
    finally:
        event.remove(container.engine, "before_cursor_execute", captured)
    gauges = [(sql, parameters) for sql, parameters in statements if any(t in sql for t in BIG_TABLES)]
    assert len(gauges) >= 6
    with container.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        for sql, parameters in gauges:
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}", parameters))
            scanned = [table for table in BIG_TABLES if f"Seq Scan on {table} " in plan + " "]
            assert scanned == [], f"{sql}\n{plan}"


# -- a real task on a real worker -----------------------------------------------------------------------------------


def _scrape_url(url: str, headers: dict[str, str] | None = None) -> Samples | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return _samples(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_a_worker_serves_task_rate_latency_and_outcome_by_task_on_its_own_port(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _empty_tables(postgres_url)
    port = _free_port()
    monkeypatch.setenv("SPECGOODS_WORKER_METRICS_PORT", str(port))
    container = make_container(postgres_url, redis_url=redis_url, relay_after_commit=True)
    wait_for_worker(container, start_worker(postgres_url, redis_url, concurrency=2))
    cast = make_cast(container)
    container.bus.handle(c.SubmitApplication(cast.applicant, file_application(container, cast)))
    task = {"task": "specgoods.screen_application"}

    def screened() -> Samples | None:
        samples = _scrape_url(f"http://127.0.0.1:{port}/metrics")
        return samples if samples and value(samples, "specgoods_tasks_total", outcome="success", **task) else None

    samples = wait_for(screened, timeout=60, what="the screening task in the worker's metrics")
    assert value(samples, "specgoods_tasks_total", outcome="success", **task) == 1
    assert value(samples, "specgoods_task_duration_seconds_count", **task) == 1


def test_task_outcomes_are_counted_by_task_as_success_retry_and_failure(
    make_container: Callable[..., Container], sqlite_url: str
) -> None:
    """The embedded worker (a real worker on the in-memory transport) runs a task that retries once, then one that
    fails for good; the signals count each outcome under the task's name."""
    _empty_tables(sqlite_url)
    container = make_container(sqlite_url)
    attempts: list[int] = []

    @container.celery.task(name="tests.metrics.flaky", bind=True, max_retries=1)
    def flaky(self: Any) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise self.retry(countdown=0)
        return "ok"

    @container.celery.task(name="tests.metrics.broken")
    def broken() -> None:
        raise RuntimeError("broken on purpose")

    def count(task: str, outcome: str) -> float:
        return REGISTRY.get_sample_value("specgoods_tasks_total", {"task": task, "outcome": outcome}) or 0.0

    worker = start_embedded_worker(container)
    try:
        flaky.delay()
        broken.delay()
        wait_for(lambda: count("tests.metrics.flaky", "success") and count("tests.metrics.broken", "failure"),
                 timeout=60, what="both tasks to finish in the embedded worker")  # fmt: skip
    finally:
        worker.stop()
    assert count("tests.metrics.flaky", "retry") == 1 and count("tests.metrics.flaky", "success") == 1
    assert count("tests.metrics.broken", "failure") == 1
    duration = {"task": "tests.metrics.broken"}
    assert REGISTRY.get_sample_value("specgoods_task_duration_seconds_count", duration) == 1


# -- gunicorn: the sum over worker processes -------------------------------------------------------------------------


@pytest.fixture
def gunicorn(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """Two worker processes, each replaced after 4 requests, so a handful of requests pass through several pids."""
    port, metrics_dir = _free_port(), tmp_path / "prometheus"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    env |= {
        "SPECGOODS_DATABASE_URL": postgres_url,
        "SPECGOODS_REDIS_URL": redis_url,
        "SPECGOODS_INSTANCE_PATH": str(tmp_path / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    command = [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf", "--workers", "2"]
    command += ["--worker-class", "gthread", "--threads", "2", "--max-requests", "4", "--bind", f"127.0.0.1:{port}"]
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = subprocess.Popen([*command, "web.wsgi:app"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", metrics_dir, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _pids(folder: Path, prefix: str) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob(f"{prefix}_*.db")}


def _children(parent: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def test_gunicorn_metrics_sum_every_worker_process_and_forget_the_live_gauges_of_those_that_exited(
    gunicorn: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    url, metrics_dir, server = gunicorn
    wait_for(lambda: server.poll() is not None or _scrape_url(f"{url}/metrics"), timeout=60, what="gunicorn up")
    assert server.poll() is None
    for n in range(12):
        try:
            urllib.request.urlopen(f"{url}/no/such/page/{n}", timeout=10)
        except urllib.error.HTTPError as error:
            assert error.code == 404
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    samples = wait_for(lambda: _scrape_url(f"{url}/metrics"), timeout=30, what="a scrape")
    assert value(samples, "specgoods_http_requests_total", **unmatched) == 12
    assert len(_pids(metrics_dir, "counter")) >= 3  # 12 requests and more, 4 per process: the sum spans processes

    assert _pids(metrics_dir, "gauge_livesum")  # requests in progress: a live gauge, one file per process

    def only_live_pids_keep_a_live_gauge() -> bool:
        return _pids(metrics_dir, "gauge_livesum") <= _children(server.pid)

    wait_for(only_live_pids_keep_a_live_gauge, timeout=30, what="child_exit to mark the exited workers dead")
