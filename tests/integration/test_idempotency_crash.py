"""A keyed API request killed between any two of its steps converges when retried with its key.

Each crash is real: a subprocess sends the request and SIGKILLs itself at the step (tests/integration/crash_request.py),
so nothing is cleaned up, rolled back or answered by the dying process; the database alone decides what survived.
The retry with the same key must then file exactly one object, answer 201, and never find its key "still running".
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from config.bootstrap import Container
from tests.api.test_lifecycle_over_http import CYTOKINE
from tests.conftest import Cast, FixedClock, make_cast, wait_for
from tests.integration.crash_request import request_kwargs
from tests.integration.support import PDF, fx10_cytokine, view_required_documents
from web import create_app
from web.idempotency import FAULTS, REPLAYED, fingerprint
from workflow.domain import commands as c
from workflow.domain.goods import Direction
from workflow.store.accounts import issue_token
from workflow.store.ledger import CLAIM_TIMEOUT, SqlIdempotency
from workflow.store.tables import ApplicationRow, DocumentRow, IdempotencyKeyRow

ROOT = Path(__file__).resolve().parents[2]
# Every step a keyed request reports, in order; a kill at any of them is followed by a retry.
STEPS = ("began", "claimed", "unit of work committed", "answered", "recorded", "committed")
DRAFT = {"district": "xiamen", "direction": "entry", "lines": [CYTOKINE]}


@dataclass
class Door:
    """The API of one container, with an applicant's token, and the means to crash a request in a subprocess."""

    container: Container
    client: FlaskClient
    cast: Cast
    token: str
    database_url: str
    instance_path: Path
    today: str

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}

    def send(self, request: dict[str, Any], key: str) -> Any:
        return self.client.post(request["path"], headers=self.headers(key), **request_kwargs(request))

    def crash(self, request: dict[str, Any], key: str, step: str) -> None:
        spec = {
            **request,
            "database_url": self.database_url,
            "instance_path": str(self.instance_path),
            "today": self.today,
            "step": step,
            "headers": self.headers(key),
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.integration.crash_request", json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == -signal.SIGKILL, f"never reached {step!r}: {done.stdout}{done.stderr}"

    def count(self, table: type) -> int:
        with self.container.sessions() as session:
            return session.scalar(select(func.count()).select_from(table)) or 0

    def unanswered_keys(self) -> list[str]:
        with self.container.sessions() as session:
            return [row.key for row in session.scalars(select(IdempotencyKeyRow)) if not row.result]


@pytest.fixture
def door(container: Container, database_url: str, clock: FixedClock) -> Door:
    cast = make_cast(container)
    with container.sessions() as session, session.begin():
        token = issue_token(
            session, cast.applicant.user_id or 0, "crash", container.deps.clock.now(), timedelta(days=1)
        )
    client = create_app(container, {"TESTING": True}).test_client()
    instance = container.settings.instance_path
    return Door(container, client, cast, token.token, database_url, instance, clock.today().isoformat())


def _create(door: Door) -> tuple[dict[str, Any], type]:
    return {"path": "/api/v1/applications", "json": DRAFT}, ApplicationRow


def _upload(door: Door) -> tuple[dict[str, Any], type]:
    cast = door.cast
    command = c.CreateApplication(cast.applicant, cast.enterprise_id, "xiamen", Direction.ENTRY, (fx10_cytokine(10),))
    application_id = door.container.bus.handle(command)
    doc_type = view_required_documents(door.container, application_id)[0]
    request = {
        "path": f"/api/v1/applications/{application_id}/documents",
        "form": {"doc_type": doc_type},
        "file": ("permit.pdf", base64.b64encode(PDF).decode()),
    }
    return request, DocumentRow


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("kind", [_create, _upload], ids=["create-application", "upload-document"])
def test_a_request_killed_at_any_step_is_done_once_when_retried_with_its_key(
    door: Door, kind: Callable[[Door], tuple[dict[str, Any], type]], step: str
) -> None:
    request, table = kind(door)
    door.crash(request, "crash-1", step)
    assert door.unanswered_keys() == []  # a key is never committed without its response
    retried = door.send(request, "crash-1")
    assert retried.status_code == 201, retried.json
    assert (retried.headers.get(REPLAYED) == "true") == (step == "committed")  # only a committed request replays
    again = door.send(request, "crash-1")
    assert again.status_code == 201 and again.headers[REPLAYED] == "true" and again.json == retried.json
    assert door.count(table) == 1 and door.unanswered_keys() == []


def test_a_claim_left_without_its_response_is_released_once_older_than_the_bound(door: Door) -> None:
    """What the earlier two-transaction door left when its process died: still running within the bound, then free."""
    request, _ = _create(door)
    key = f"api:{door.cast.applicant.user_id}:legacy"
    now = door.container.deps.clock.now
    with door.container.sessions() as session, session.begin():
        SqlIdempotency(session, now).claim(key, door.cast.applicant.user_id, _fingerprint(door, request))
    running = door.send(request, "legacy")
    assert running.status_code == 409 and running.json["field"] == "Idempotency-Key"
    with door.container.sessions() as session, session.begin():
        stale = now() - CLAIM_TIMEOUT - timedelta(seconds=1)
        session.execute(IdempotencyKeyRow.__table__.update().values(created_at=stale))
    released = door.send(request, "legacy")
    assert released.status_code == 201 and REPLAYED not in released.headers
    assert door.count(ApplicationRow) == 1 and door.unanswered_keys() == []


def _fingerprint(door: Door, request: dict[str, Any]) -> str:
    with door.client.application.test_request_context(request["path"], method="POST", **request_kwargs(request)):
        return fingerprint()


def test_a_duplicate_sent_while_the_first_runs_waits_for_it_and_replays_its_response(door: Door) -> None:
    request, _ = _create(door)
    claimed, release = threading.Event(), threading.Event()

    def hold_the_first(step: str) -> None:
        if step == "claimed" and not claimed.is_set():
            claimed.set()
            release.wait(30)

    door.client.application.extensions[FAULTS] = hold_the_first
    answers: dict[str, Any] = {}
    first = threading.Thread(target=lambda: answers.update(first=door.send(request, "dup")))
    first.start()
    wait_for(claimed.is_set, what="the first request to claim its key")
    second = threading.Thread(target=lambda: answers.update(second=door.send(request, "dup")))
    second.start()
    if door.container.engine.dialect.name == "postgresql":
        wait_for(lambda: _waiting_on_a_lock(door), what="the duplicate to wait on the claimed key")
    release.set()
    first.join(60)
    second.join(60)
    assert answers["first"].status_code == answers["second"].status_code == 201
    assert answers["second"].headers[REPLAYED] == "true" and answers["second"].json == answers["first"].json
    assert door.count(ApplicationRow) == 1


def _waiting_on_a_lock(door: Door) -> bool:
    with door.container.engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar()
    return bool(waiting)
