"""Outages: the database or broker down answers 503 with Retry-After, and the log says so once, not per request.

Real failures only: a PostgreSQL URL on a port where nothing listens, and a throwaway PostgreSQL cluster this module
starts on a private port, stops mid-test and starts again. `/readyz` tells anonymous callers only up or down and a
reason code; `/healthz` (liveness) stays up, since it touches neither the database nor the broker.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from kombu import Connection
from sqlalchemy import create_engine, text

from config.bootstrap import Container
from tests.api.conftest import PASSWORD
from tests.conftest import make_cast, wait_for
from tests.ui.conftest import CSRF
from web import create_app
from web.context import HASHER
from web.outages import failing_part
from workflow.domain.actors import Actor
from workflow.store.accounts import issue_token
from workflow.store.migrate import upgrade
from workflow.store.tables import UserRow

OUTAGE_LOGGER = "web.outages"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again with the socket: nothing listens there


def _outage_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == OUTAGE_LOGGER and words in record.getMessage()]


def _traces(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info is not None]


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.headers["Retry-After"] == "5"


# -- a database nobody answers for --------------------------------------------------------------------------------


@pytest.fixture
def database_down(make_container: Callable[..., Container], caplog: pytest.LogCaptureFixture) -> FlaskClient:
    caplog.set_level(logging.INFO)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/specgoods"
    container = make_container(url)
    return create_app(container, {"TESTING": True}).test_client()


def test_every_api_request_is_a_503_problem_with_retry_after_and_the_log_has_one_line(
    database_down: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    bearer = {"Authorization": "Bearer sgt_any"}
    responses = [database_down.get("/api/v1/me", headers=bearer) for _ in range(20)]
    responses += [database_down.post("/api/v1/tokens", auth=("someone", "password"), json={}) for _ in range(5)]
    for response in responses:
        _assert_unavailable(response)
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == 503 and response.json["title"] == "ServiceUnavailable"
    assert len(_outage_lines(caplog, "database unavailable")) == 1
    assert _traces(caplog) == []


def test_a_page_is_a_503_page_with_retry_after_not_a_500(
    database_down: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    found = CSRF.search(database_down.get("/ui/sign-in").get_data(as_text=True))  # the form needs no database
    assert found
    form = {"username": "xiamen.applicant", "password": PASSWORD, "csrf_token": found.group(1)}
    response = database_down.post("/ui/sign-in", data=form)
    _assert_unavailable(response)
    assert response.mimetype == "text/html" and "服务暂时不可用" in response.get_data(as_text=True)
    assert len(_outage_lines(caplog, "database unavailable")) == 1 and _traces(caplog) == []


def test_anonymous_readyz_says_the_database_is_down_without_saying_why_while_healthz_stays_up(
    database_down: FlaskClient,
) -> None:
    response = database_down.get("/readyz")
    assert response.status_code == 503 and response.json["status"] == "not_ready"
    checks = response.json["checks"]
    assert checks["database"] == {"up": False, "reason": "unreachable"}
    assert all(set(check) <= {"up", "reason"} for check in checks.values())
    assert database_down.get("/healthz").status_code == 200  # liveness: this process answers


# -- a real PostgreSQL that stops and starts again -----------------------------------------------------------------


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; the suite may (in a container), so it runs the server as `postgres`."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PrivatePostgres:
    """A throwaway cluster on a private port, owned by this test."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.folder / "server.log"), "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def _pg_ctl(self, *arguments: str) -> None:
        command = _as_postgres(["pg_ctl", "-D", str(self.folder / "data"), "-w", *arguments])
        subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    folder = Path(tempfile.mkdtemp(prefix="specgoods-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    initdb = ["initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
    server = PrivatePostgres(folder, _closed_port())
    server.start()
    yield server
    subprocess.run(_as_postgres(["pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "stop"]), capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def _signed_in(container: Container, actor: Actor) -> dict[str, str]:
    now = container.deps.clock.now()
    with container.sessions() as session, session.begin():
        user = session.get(UserRow, actor.user_id)
        assert user is not None
        user.password_hash = HASHER.hash(PASSWORD)
        token = issue_token(session, actor.user_id or 0, "outage", now, timedelta(days=1)).token
    return {"Authorization": f"Bearer {token}"}


def _page_session(client: FlaskClient, actor: Actor) -> None:
    found = CSRF.search(client.get("/ui/sign-in").get_data(as_text=True))
    assert found
    form = {"username": actor.name, "password": PASSWORD, "csrf_token": found.group(1)}
    assert client.post("/ui/sign-in", data=form).status_code == 303


def test_postgresql_stopped_and_started_again_gives_503s_then_recovery_with_one_log_line_each(
    private_postgres: PrivatePostgres, make_container: Callable[..., Container], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    upgrade(private_postgres.url)
    container = make_container(private_postgres.url)
    applicant = make_cast(container).applicant
    app = create_app(container, {"TESTING": True})
    api, pages = app.test_client(), app.test_client()
    bearer = _signed_in(container, applicant)
    _page_session(pages, applicant)
    assert api.get("/api/v1/me", headers=bearer).status_code == 200

    private_postgres.stop()
    for _ in range(10):
        _assert_unavailable(api.get("/api/v1/me", headers=bearer))
        _assert_unavailable(pages.get("/ui/applicant/applications"))  # the session is checked in the database

    private_postgres.start()
    wait_for(lambda: api.get("/api/v1/me", headers=bearer).status_code == 200, timeout=30, what="the API to recover")
    assert pages.get("/ui/applicant/applications").status_code == 200  # still signed in: the session row survived
    recovered = "database available again"

    def recovery_logged() -> bool:  # the end of an outage is noticed by the next due probe, at most a second on
        return api.get("/api/v1/me", headers=bearer).status_code == 200 and bool(_outage_lines(caplog, recovered))

    wait_for(recovery_logged, timeout=10, what="the recovery line")
    assert len(_outage_lines(caplog, "database unavailable")) == 1
    assert len(_outage_lines(caplog, recovered)) == 1
    assert _traces(caplog) == []


# -- which errors are an outage -------------------------------------------------------------------------------------


def _raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as error:  # noqa: BLE001 - the test wants the very error the library raises
        return error
    pytest.fail("expected an error")


def _query_closed_database() -> object:
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/x")
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def _publish_to_closed_broker() -> object:
    with Connection(f"redis://127.0.0.1:{_closed_port()}/0") as connection:
        return connection.ensure_connection(max_retries=1, timeout=1)


def _bad_sql(container: Container) -> object:
    with container.engine.connect() as connection:
        return connection.execute(text("SELECT * FROM no_such_table"))


def test_only_unreachable_services_count_as_outages_never_a_bug(container: Container) -> None:
    assert failing_part(_raised(_query_closed_database)) == "database"
    assert failing_part(_raised(_publish_to_closed_broker)) == "broker"
    assert failing_part(_raised(lambda: _bad_sql(container))) is None
    assert failing_part(ValueError("a bug")) is None


# -- /readyz details ------------------------------------------------------------------------------------------------


def test_readyz_names_its_parts_only_up_or_down_to_anonymous_callers_and_details_to_an_auditor(
    make_container: Callable[..., Container], database_url: str
) -> None:
    container = make_container(database_url)
    cast = make_cast(container)
    app = create_app(container, {"TESTING": True})
    client = app.test_client()
    anonymous = client.get("/readyz").json["checks"]
    assert set(anonymous) == {"database", "broker", "workers"}
    assert all(set(check) <= {"up", "reason"} for check in anonymous.values())
    assert anonymous["workers"] == {"up": False, "reason": "no_worker"}
    detailed = client.get("/readyz", headers=_signed_in(container, cast.auditor)).json["checks"]
    assert detailed["database"]["detail"] == container.engine.dialect.name and "detail" in detailed["workers"]
    applicant = client.get("/readyz", headers=_signed_in(container, cast.applicant)).json["checks"]
    assert all(set(check) <= {"up", "reason"} for check in applicant.values())
    _page_session(client, cast.auditor)
    assert "detail" in client.get("/readyz").json["checks"]["workers"]  # a page session of an auditor sees them too
