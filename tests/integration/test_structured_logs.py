"""Structured logs: one JSON line per request and per task, the request id following a request into its tasks, and
no password, session cookie, credential or name in any line (issue 18, item 2)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from flask.testing import FlaskClient
from sqlalchemy import select

from config.bootstrap import Container
from tasks.app import start_embedded_worker
from tests.conftest import _empty_tables, make_cast, wait_for, wait_for_worker
from tests.integration.support import file_application
from web import create_app
from web.passwords import HASHER
from workflow.domain.actors import Role
from workflow.store.accounts import issue_token
from workflow.store.directory import create_user
from workflow.store.outbox_trace import current_request_id
from workflow.store.repositories import SqlOutbox
from workflow.store.tables import OutboxRow, UserRow

PASSWORD = "Sesame-Lantern-47-tulip"
PERSON = "logs-person-7f3a"
DISPLAY_NAME = "张三丰测试"
EMAIL = "zhang.sanfeng@example.cn"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line that is a JSON object, parsed; a line that starts like one but does not parse fails the test."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def request_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(text) if line.get("event") == "request"]


def _person(container: Container) -> int:
    with container.sessions() as session, session.begin():
        user = create_user(
            session,
            username=PERSON,
            role=Role.AUDITOR,
            password_hash=HASHER.hash(PASSWORD),
            now=container.deps.clock.now(),
            display_name=DISPLAY_NAME,
            district="xiamen",
        )
        user.email = EMAIL
        return int(user.id)


@pytest.fixture
def site(make_container: Callable[..., Container], sqlite_url: str) -> tuple[Container, FlaskClient]:
    _empty_tables(sqlite_url)
    container = make_container(sqlite_url, log_format="json")
    return container, create_app(container, {"TESTING": True}).test_client()


def test_a_request_logs_one_json_line_with_its_id_route_user_object_status_and_duration(
    site: tuple[Container, FlaskClient], capsys: pytest.CaptureFixture[str]
) -> None:
    container, client = site
    user_id = _person(container)
    capsys.readouterr()
    response = client.get(
        "/api/v1/applications/424242", auth=(PERSON, PASSWORD), headers={"X-Request-ID": "req-0001-abc"}
    )
    assert response.status_code == 404 and response.headers["X-Request-ID"] == "req-0001-abc"
    [line] = request_lines(capsys.readouterr().err)
    assert line["request_id"] == "req-0001-abc" and line["route"] == "/api/v1/applications/<int:application_id>"
    assert (line["user_id"], line["role"], line["district"]) == (user_id, "auditor", "xiamen")
    assert (line["object_type"], line["object_id"], line["status"]) == ("application", 424242, 404)
    assert line["method"] == "GET" and line["duration_ms"] >= 0 and line["level"] == "info"


@pytest.mark.parametrize("sent", ["short", "has spaces in it", "x" * 200, "<script>alert(1)</script>", ""])
def test_an_implausible_request_id_is_replaced_by_a_fresh_one_and_echoed(
    site: tuple[Container, FlaskClient], capsys: pytest.CaptureFixture[str], sent: str
) -> None:
    _container, client = site
    response = client.get("/healthz", headers={"X-Request-ID": sent} if sent else {})
    echoed = response.headers["X-Request-ID"]
    assert echoed != sent and re.fullmatch(r"[0-9a-f]{32}", echoed)
    assert [line["request_id"] for line in request_lines(capsys.readouterr().err)] == [echoed]


def test_signing_in_leaves_no_password_cookie_credential_or_name_in_any_log_line(
    site: tuple[Container, FlaskClient], capsys: pytest.CaptureFixture[str]
) -> None:
    container, client = site
    _person(container)
    found = CSRF.search(client.get("/ui/sign-in").get_data(as_text=True))
    assert found
    signed_in = client.post("/ui/sign-in", data={"username": PERSON, "password": PASSWORD, "csrf_token": found[1]})
    assert signed_in.status_code == 303
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert client.get("/ui/").status_code in (200, 303)
    basic = client.get("/api/v1/me", auth=(PERSON, PASSWORD))
    failed = client.get("/api/v1/me", auth=(PERSON, PASSWORD + "-wrong"))
    with container.sessions() as session, session.begin():
        token = issue_token(session, _id_of(session, PERSON), "logs", container.deps.clock.now(), timedelta(days=1))
    bearer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.token}"})
    assert (basic.status_code, failed.status_code, bearer.status_code) == (200, 401, 200)
    logged = capsys.readouterr().err
    assert len(request_lines(logged)) >= 6
    secrets = (PASSWORD, cookie.value, token.token, PERSON, DISPLAY_NAME, EMAIL, "Basic ", "Bearer ")
    assert [secret for secret in secrets if secret in logged] == []


def test_a_value_logged_under_a_secrets_name_is_redacted(
    site: tuple[Container, FlaskClient], capsys: pytest.CaptureFixture[str]
) -> None:
    structlog.get_logger("specgoods.requests").info("probe", password=PASSWORD, api_token="t0k3n", user_id=7)
    [line] = [line for line in json_lines(capsys.readouterr().err) if line["event"] == "probe"]
    assert (line["password"], line["api_token"], line["user_id"]) == ("[redacted]", "[redacted]", 7)


def _id_of(session: Any, username: str) -> int:
    return int(session.scalar(select(UserRow.id).where(UserRow.username == username)))


def test_in_the_demo_the_request_line_is_plain_text_not_json(
    make_container: Callable[..., Container], sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = create_app(make_container(sqlite_url)).test_client()  # development: no format set
    response = client.get("/healthz", headers={"X-Request-ID": "demo-request-1"})
    [line] = [line for line in capsys.readouterr().err.splitlines() if "request_id=demo-request-1" in line]
    assert not line.startswith("{") and "route=/healthz" in line and f"status={response.status_code}" in line


@pytest.fixture
def production(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Container, Path]:
    """PostgreSQL, Redis and a worker process that logs JSON (as production would without the setting)."""
    _empty_tables(postgres_url)
    monkeypatch.setenv("SPECGOODS_LOG_FORMAT", "json")
    container = make_container(postgres_url, redis_url=redis_url, relay_after_commit=True, log_format="json")
    worker = start_worker(postgres_url, redis_url)
    wait_for_worker(container, worker)
    return container, worker.log


def test_a_requests_id_follows_its_outbox_rows_into_the_worker_tasks_log_lines(
    production: tuple[Container, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    container, worker_log = production
    cast = make_cast(container)
    application_id = file_application(container, cast)
    now = container.deps.clock.now()
    with container.sessions() as session, session.begin():
        token = issue_token(session, cast.applicant.user_id or 0, "logs", now, timedelta(days=1)).token
    request_id = f"submit-{uuid.uuid4().hex}"
    client = create_app(container).test_client()
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": request_id}
    assert client.post(f"/api/v1/applications/{application_id}/submit", headers=headers).status_code == 200
    [web_line] = [line for line in request_lines(capsys.readouterr().err) if line["request_id"] == request_id]
    assert (web_line["object_type"], web_line["object_id"], web_line["status"]) == ("application", application_id, 200)
    with container.sessions() as session:
        caused = set(
            session.scalars(select(OutboxRow.task).where(OutboxRow.payload["_request_id"].as_string() == request_id))
        )
    assert "screen_application" in caused  # which also tells the acceptors, in its own transaction

    def task_lines() -> list[dict[str, Any]]:
        lines = [line for line in json_lines(worker_log.read_text()) if line.get("event") == "task"]
        return [line for line in lines if line.get("request_id") == request_id]

    def screening_logged() -> list[dict[str, Any]] | None:
        lines = task_lines()
        return lines if "specgoods.screen_application" in {line["task"] for line in lines} else None

    lines = wait_for(screening_logged, timeout=60, what="the worker's task lines carrying the request id")
    screen = next(line for line in lines if line["task"] == "specgoods.screen_application")
    assert (screen["object_type"], screen["object_id"]) == ("application", application_id)
    assert screen["state"] == "SUCCESS" and screen["outcome"] == "done" and screen["duration_ms"] >= 0
    assert screen["task_id"].startswith("outbox-") and screen["logger"] == "specgoods.tasks"
    assert cast.applicant.name not in worker_log.read_text()


@pytest.fixture
def embedded(make_container: Callable[..., Container], sqlite_url: str) -> Iterator[Container]:
    _empty_tables(sqlite_url)
    container = make_container(sqlite_url, relay_after_commit=True, log_format="json")
    worker = start_embedded_worker(container)
    yield container
    worker.stop()


def test_a_task_that_fails_logs_its_line_at_error_level_with_the_id_of_the_row_that_asked_for_it(
    embedded: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    current_request_id.set("caused-by-req-42")
    try:
        with embedded.sessions() as session, session.begin():
            outbox = SqlOutbox(session, embedded.deps.clock.now)
            outbox.add("screen_application", {"bogus_argument": 1})  # the task cannot even be called
            outbox.insert()
    finally:
        current_request_id.set(None)
    embedded.relay.relay()
    logged: list[str] = []

    def failed_line() -> dict[str, Any] | None:
        logged.append(capsys.readouterr().err)
        lines = [line for line in json_lines("".join(logged)) if line.get("event") == "task"]
        return next((line for line in lines if line["request_id"] == "caused-by-req-42"), None)

    line = wait_for(failed_line, timeout=30, what="the failed task's line")
    assert (line["state"], line["outcome"], line["level"]) == ("FAILURE", "failed", "error")
