"""Signing in: tokens for passwords (Argon2id, old hashes upgraded), revocation, the rate limit, the login history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from config.bootstrap import Container
from tests.api.conftest import PASSWORD, World
from tests.conftest import make_cast
from web import create_app
from web.context import HASHER
from web.throttle import ThrottlePolicy
from workflow.domain.actors import Actor
from workflow.store.tables import AuditEventRow, UserRow


def _set_password(container: Container, actor: Actor, password_hash: str) -> None:
    with container.sessions() as session, session.begin():
        user = session.get(UserRow, actor.user_id)
        assert user is not None
        user.password_hash = password_hash


def _stored_hash(world: World, actor: Actor) -> str:
    with world.container.sessions() as session:
        return str(session.scalar(select(UserRow.password_hash).where(UserRow.id == actor.user_id)))


def _logins(world: World) -> list[tuple[str, str, int | None]]:
    with world.container.sessions() as session:
        rows = session.scalars(
            select(AuditEventRow).where(AuditEventRow.object_type == "user").order_by(AuditEventRow.id)
        )
        return [(row.trigger, row.object_ref, row.actor_id) for row in rows]


def _sign_in(world: World, username: str, password: str, **body: Any) -> Any:
    return world.client.post("/api/v1/tokens", auth=(username, password), json=body)


def test_a_password_buys_a_token_that_works_until_it_is_revoked(world: World) -> None:
    applicant = world.home.applicant
    _set_password(world.container, applicant, HASHER.hash(PASSWORD))
    issued = _sign_in(world, applicant.name, PASSWORD, name="erp")
    assert issued.status_code == 201, issued.json
    bearer = {"Authorization": f"Bearer {issued.json['token']}"}
    assert world.client.get("/api/v1/me", headers=bearer).json["enterprise_id"] == world.home.enterprise_id
    listed = world.client.get("/api/v1/tokens", headers=bearer).json["items"]
    assert issued.json["id"] in [token["id"] for token in listed] and "token" not in listed[0]
    revoked = world.client.post(f"/api/v1/tokens/{issued.json['id']}/revoke", headers=bearer)
    assert revoked.status_code == 200 and revoked.json["revoked"] is True
    assert world.client.get("/api/v1/me", headers=bearer).status_code == 401


def test_an_old_werkzeug_hash_still_signs_in_and_is_upgraded_to_argon2id(world: World) -> None:
    applicant = world.home.applicant
    _set_password(world.container, applicant, generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"))
    assert _sign_in(world, applicant.name, PASSWORD).status_code == 201
    assert _stored_hash(world, applicant).startswith("$argon2id$")
    assert _sign_in(world, applicant.name, PASSWORD).status_code == 201


def test_every_sign_in_attempt_is_in_the_audit_trail_with_its_outcome(world: World) -> None:
    applicant = world.home.applicant
    _set_password(world.container, applicant, HASHER.hash(PASSWORD))
    assert _sign_in(world, applicant.name, "wrong").status_code == 401
    assert _sign_in(world, "nobody", "wrong").status_code == 401
    assert _sign_in(world, applicant.name, PASSWORD).status_code == 201
    assert world.client.get("/api/v1/me", auth=(applicant.name, "wrong again")).status_code == 401
    assert _logins(world) == [
        ("login_failed", applicant.name, applicant.user_id),
        ("login_failed", "nobody", None),
        ("login", applicant.name, applicant.user_id),
        ("login_failed", applicant.name, applicant.user_id),
    ]
    history = world.call(world.home.auditor, "GET", "/api/v1/audit-events?object_type=user").json["items"]
    assert [event["trigger"] for event in history][:2] == ["login_failed", "login"]


def test_failed_sign_ins_are_rate_limited_even_for_the_right_password(make_world: Callable[..., World]) -> None:
    world = make_world({"SPECGOODS_SIGN_IN_THROTTLE": ThrottlePolicy(free_failures=3)})
    applicant = world.home.applicant
    _set_password(world.container, applicant, HASHER.hash(PASSWORD))
    statuses = [_sign_in(world, applicant.name, f"guess {n}").status_code for n in range(3)]
    assert statuses == [401, 401, 401]
    blocked = _sign_in(world, applicant.name, PASSWORD)
    assert blocked.status_code == 429 and blocked.mimetype == "application/problem+json"
    assert int(blocked.headers["Retry-After"]) > 0
    assert world.client.get("/api/v1/me", auth=(applicant.name, PASSWORD)).status_code == 429
    assert world.call(applicant, "GET", "/api/v1/me").status_code == 200  # a token is not a password guess


def test_successful_sign_ins_do_not_spend_the_limit(make_world: Callable[..., World]) -> None:
    world = make_world({"SPECGOODS_SIGN_IN_THROTTLE": ThrottlePolicy(free_failures=2)})
    applicant = world.home.applicant
    _set_password(world.container, applicant, HASHER.hash(PASSWORD))
    assert [_sign_in(world, applicant.name, PASSWORD).status_code for _ in range(4)] == [201] * 4


def test_an_unknown_or_malformed_token_is_401(world: World) -> None:
    for header in ("Bearer sgt_not-a-token", "Bearer ", "Digest abc", "Basic !!!"):
        response = world.client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.mimetype == "application/problem+json"


def test_in_production_the_failure_count_is_shared_through_redis_by_every_worker(
    make_container: Callable[..., Container], database_url: str, redis_url: str
) -> None:
    container = make_container(database_url, redis_url=redis_url)
    config = {"SPECGOODS_SIGN_IN_THROTTLE": ThrottlePolicy(free_failures=2)}
    one, other = (create_app(container, config).test_client() for _ in range(2))
    assert one.application.config["SPECGOODS_RATELIMIT_STORAGE"] == redis_url
    applicant = make_cast(container).applicant
    _set_password(container, applicant, HASHER.hash(PASSWORD))
    failed = [one.post("/api/v1/tokens", auth=(applicant.name, "wrong"), json={}).status_code for _ in range(2)]
    assert failed == [401, 401]
    assert other.post("/api/v1/tokens", auth=(applicant.name, PASSWORD), json={}).status_code == 429
