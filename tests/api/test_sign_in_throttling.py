"""Sign-in throttling that nobody can turn against someone else: per name and source, with waits that grow.

The app sits behind one trusted reverse proxy (`SPECGOODS_TRUSTED_PROXIES=1`) at 10.0.0.2, as in production; clients
differ by the address the proxy appends to X-Forwarded-For. The throttle's clock is a clock the test moves, so the
growing waits are seen without waiting for them.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from config.bootstrap import Container
from tests.api.conftest import PASSWORD
from tests.conftest import make_cast
from web import create_app
from web.context import HASHER
from web.throttle import SignInThrottle, ThrottlePolicy
from workflow.domain.actors import Actor
from workflow.store.tables import UserRow

PROXY = "10.0.0.2"
ATTACKER, OFFICE = "203.0.113.66", "198.51.100.7"


@dataclass
class MovableClock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Door:
    """The token endpoint behind the proxy, with two people who have passwords and the throttle's clock."""

    client: FlaskClient
    officer: Actor
    applicant: Actor
    clock: MovableClock

    def sign_in(self, actor: Actor, password: str, source: str, forwarded: str = "") -> Any:
        chain = f"{forwarded}, {source}" if forwarded else source  # the proxy appends the address it saw
        return self.client.post(
            "/api/v1/tokens",
            auth=(actor.name, password),
            json={},
            headers={"X-Forwarded-For": chain},
            environ_base={"REMOTE_ADDR": PROXY},
        )

    def fail(self, actor: Actor, source: str, times: int) -> list[int]:
        return [self.sign_in(actor, f"guess {n}", source).status_code for n in range(times)]


def _with_password(container: Container, *actors: Actor) -> None:
    with container.sessions() as session, session.begin():
        for actor in actors:
            user = session.get(UserRow, actor.user_id)
            assert user is not None
            user.password_hash = HASHER.hash(PASSWORD)


@pytest.fixture
def make_door(make_container: Callable[..., Container], database_url: str) -> Callable[..., Door]:
    def make(redis_url: str = "", **policy: Any) -> Door:
        container = make_container(database_url, redis_url=redis_url, trusted_proxies=1)
        cast = make_cast(container)
        _with_password(container, cast.head, cast.applicant)
        app = create_app(container, {"TESTING": True, "SPECGOODS_SIGN_IN_THROTTLE": ThrottlePolicy(**policy)})
        throttle: SignInThrottle = app.extensions["specgoods_throttle"]
        throttle.clock = clock = MovableClock()
        return Door(app.test_client(), cast.head, cast.applicant, clock)

    return make


def test_an_attackers_failures_do_not_lock_the_named_officer_out_from_her_desk(make_door: Callable[..., Door]) -> None:
    door = make_door(free_failures=3)
    assert door.fail(door.officer, ATTACKER, 3) == [401, 401, 401]
    refused = door.sign_in(door.officer, PASSWORD, ATTACKER)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 30
    assert door.sign_in(door.officer, PASSWORD, OFFICE).status_code == 201


def test_failures_on_one_name_do_not_slow_another_name_from_the_same_address(make_door: Callable[..., Door]) -> None:
    door = make_door(free_failures=3)
    door.fail(door.officer, OFFICE, 3)
    assert door.sign_in(door.officer, PASSWORD, OFFICE).status_code == 429
    assert door.sign_in(door.applicant, PASSWORD, OFFICE).status_code == 201


def test_the_wait_doubles_with_each_failure_after_the_free_ones_up_to_its_cap(make_door: Callable[..., Door]) -> None:
    door = make_door(free_failures=2, first_delay=30, max_delay=100)
    door.fail(door.officer, ATTACKER, 2)
    waits = []
    for _ in range(3):
        refused = door.sign_in(door.officer, "guess", ATTACKER)
        assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
        waits.append(int(refused.headers["Retry-After"]))
        door.clock.now += waits[-1]  # the wait is over: one more guess, which fails and earns a longer wait
        assert door.sign_in(door.officer, "guess", ATTACKER).status_code == 401
    assert waits == [30, 60, 100]


def test_a_success_starts_the_name_and_address_afresh(make_door: Callable[..., Door]) -> None:
    door = make_door(free_failures=3)
    door.fail(door.officer, OFFICE, 2)
    assert door.sign_in(door.officer, PASSWORD, OFFICE).status_code == 201
    assert door.fail(door.officer, OFFICE, 2) == [401, 401]
    assert door.sign_in(door.officer, PASSWORD, OFFICE).status_code == 201


def test_one_address_spraying_many_names_is_slowed_for_every_name(make_door: Callable[..., Door]) -> None:
    door = make_door(free_failures=10, source_free_failures=4)
    door.fail(door.officer, ATTACKER, 2)
    door.fail(door.applicant, ATTACKER, 2)
    assert door.sign_in(door.applicant, PASSWORD, ATTACKER).status_code == 429
    assert door.sign_in(door.officer, PASSWORD, OFFICE).status_code == 201  # everyone else is untouched


def test_an_address_the_client_writes_into_x_forwarded_for_itself_changes_nothing(
    make_door: Callable[..., Door],
) -> None:
    door = make_door(free_failures=3)
    statuses = [door.sign_in(door.officer, "guess", ATTACKER, forwarded=f"192.0.2.{n}").status_code for n in range(4)]
    assert statuses == [401, 401, 401, 429]  # only the entry the trusted proxy appended counts


def test_basic_auth_on_any_route_is_throttled_like_the_token_endpoint(make_door: Callable[..., Door]) -> None:
    door = make_door(free_failures=2)
    door.fail(door.officer, ATTACKER, 2)
    headers = {"X-Forwarded-For": ATTACKER}
    me = door.client.get("/api/v1/me", auth=(door.officer.name, PASSWORD), headers=headers)
    assert me.status_code == 429 and "Retry-After" in me.headers


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the socket is: nothing listens there


def test_without_redis_sign_in_still_works_counting_in_the_process_and_says_so_once(
    make_door: Callable[..., Door], caplog: pytest.LogCaptureFixture
) -> None:
    door = make_door(redis_url=f"redis://127.0.0.1:{_closed_port()}/0", free_failures=2)
    caplog.set_level(logging.INFO)
    assert door.sign_in(door.officer, PASSWORD, OFFICE).status_code == 201
    assert door.fail(door.officer, ATTACKER, 2) == [401, 401]
    assert door.sign_in(door.officer, PASSWORD, ATTACKER).status_code == 429
    assert door.sign_in(door.applicant, PASSWORD, ATTACKER).status_code == 201
    outage = [record for record in caplog.records if "sign-in counters (Redis) unavailable" in record.getMessage()]
    assert len(outage) == 1 and outage[0].exc_info is None
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR and record not in outage]
