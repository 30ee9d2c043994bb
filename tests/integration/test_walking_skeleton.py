"""The walking skeleton through every layer: submit over HTTP, screen in a real Celery worker, see state and audit.

Embedded mode (SQLite, in-memory transport, worker thread) and production mode (PostgreSQL, Redis, worker process).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from config.bootstrap import Container
from tasks.app import EmbeddedWorker, start_embedded_worker
from tests.conftest import Cast, make_cast, wait_for, wait_for_worker
from tests.integration.support import file_application
from web import create_app
from workflow.domain import commands as c
from workflow.domain.actors import Role
from workflow.store import queries
from workflow.store.accounts import issue_token
from workflow.store.directory import create_user
from workflow.store.tables import UserRow

PASSWORD = "correct horse battery staple"


def _with_passwords(container: Container, cast: Cast) -> None:
    with container.sessions() as session, session.begin():
        for user in session.query(UserRow).all():
            user.password_hash = generate_password_hash(PASSWORD)


def _screened(container: Container, application_id: int) -> dict | None:
    with container.sessions() as session:
        view = queries.application_view(session, application_id)
    return view if view["screening"] else None


@pytest.fixture
def embedded(make_container: Callable[..., Container], sqlite_url: str) -> Iterator[tuple[Container, EmbeddedWorker]]:
    from tests.conftest import _empty_tables

    _empty_tables(sqlite_url)
    container = make_container(sqlite_url, relay_after_commit=True)
    worker = start_embedded_worker(container)
    yield container, worker
    worker.stop()


def test_embedded_mode_screens_a_submission_in_the_in_process_worker(
    embedded: tuple[Container, EmbeddedWorker],
) -> None:
    container, _worker = embedded
    cast = make_cast(container)
    _with_passwords(container, cast)
    application_id = file_application(container, cast)
    client: FlaskClient = create_app(container).test_client()
    auth = (cast.applicant.name, PASSWORD)
    response = client.post(f"/api/v1/applications/{application_id}/submit", auth=auth)
    assert response.status_code == 200, response.json
    assert response.json["state"] == "submitted"
    view = wait_for(lambda: _screened(container, application_id), timeout=30, what="screening by the worker")
    assert view["screening"]["grade"]["result"] == "C"
    audit = client.get(f"/api/v1/applications/{application_id}/audit", auth=auth).json
    assert [(event["trigger"], event["actor"]["role"]) for event in audit] == [
        ("submit", "applicant"),
        ("screen", "system"),
    ]
    ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 200 and r, timeout=20, what="readyz")
    assert ready.json["checks"]["workers"] == {"up": True}  # the embedded worker writes its heartbeat too


@pytest.fixture
def production(
    make_container: Callable[..., Container], postgres_url: str, redis_url: str, start_worker: Callable[..., Any]
) -> Container:
    """PostgreSQL and Redis, with a real worker process that answers pings."""
    from tests.conftest import _empty_tables

    _empty_tables(postgres_url)
    container = make_container(postgres_url, redis_url=redis_url, relay_after_commit=True)
    wait_for_worker(container, start_worker(postgres_url, redis_url))
    return container


def test_production_mode_screens_a_submission_in_a_worker_process_on_redis_and_postgresql(
    production: Container,
) -> None:
    container = production
    cast = make_cast(container)
    application_id = file_application(container, cast)
    container.bus.handle(c.SubmitApplication(cast.applicant, application_id))
    view = wait_for(lambda: _screened(container, application_id), timeout=60, what="screening by the worker process")
    assert view["state"] == "submitted" and view["screening"]["in_scope"] is True
    health = container.health()
    assert all(check["up"] for check in health.values()), health
    assert health["database"]["detail"] == "postgresql"


def test_readyz_reports_503_saying_no_worker_when_none_has_written_a_heartbeat(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
) -> None:
    from tests.conftest import _empty_tables

    _empty_tables(postgres_url)
    container = make_container(postgres_url, redis_url=redis_url)
    now = container.deps.clock.now()
    with container.sessions() as session, session.begin():  # the reasons are for an admin or auditor only
        name = f"health-{uuid.uuid4().hex[:8]}"
        admin = create_user(session, username=name, role=Role.ADMIN, password_hash="", now=now)
        token = issue_token(session, admin.id, "health", now, timedelta(days=1)).token
    response = create_app(container).test_client().get("/readyz", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    checks = response.json["checks"]
    assert checks["database"]["up"] and checks["broker"]["up"]
    assert checks["workers"]["up"] is False and checks["workers"]["reason"] == "no_worker"
    assert checks["workers"]["detail"]["workers"] == []


def test_the_expiry_sweep_runs_as_a_task_in_a_worker_process(production: Container) -> None:
    from tests.integration.support import certificate_state, fx10_cytokine, grant, screened_by_the_worker

    screened = screened_by_the_worker(production)  # granted 2016-06-01, valid to 2017-06-01
    number = grant(production, make_cast(production), fx10_cytokine(10), after_submit=screened)
    production.celery.send_task("specgoods.expire_certificates")  # the worker's clock is today's: long expired
    wait_for(lambda: certificate_state(production, number) == "expired", timeout=60, what="the sweep to expire it")
