"""Sign-in cost (issue 18, item 4): today's Argon2id parameters, rehashing at sign-in, and HTTP Basic remembered safely:
a changed password or a disabled account is refused at once, and a failure is never remembered."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from sqlalchemy import select

from tests.api.conftest import PASSWORD, World
from web.passwords import HASHER, LANES, MEMORY_KIB, RECENT, TIME_COST, RecentChecks, fresh_hash
from workflow.domain.actors import Actor
from workflow.store.tables import UserRow

OLD_DEFAULT = PasswordHasher()  # argon2-cffi's own default, what every stored hash had before
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def _set(world: World, actor: Actor, **values: object) -> None:
    with world.container.sessions() as session, session.begin():
        user = session.get(UserRow, actor.user_id)
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)


def _stored(world: World, actor: Actor) -> str:
    with world.container.sessions() as session:
        return str(session.scalar(select(UserRow.password_hash).where(UserRow.id == actor.user_id)))


def _me(world: World, actor: Actor, password: str = PASSWORD) -> int:
    return int(world.client.get("/api/v1/me", auth=(actor.name, password)).status_code)


def test_new_hashes_use_todays_parameters_which_are_cheaper_than_argon2_cffis_default() -> None:
    parameters = (HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism)
    assert parameters == (TIME_COST, MEMORY_KIB, LANES) == (2, 19456, 1)
    assert HASHER.hash(PASSWORD).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert OLD_DEFAULT.memory_cost * OLD_DEFAULT.time_cost > 4 * MEMORY_KIB * TIME_COST


def test_a_password_hashed_with_other_parameters_is_rehashed_and_a_current_one_is_not() -> None:
    assert fresh_hash(HASHER.hash(PASSWORD), PASSWORD) is None
    for stale in (OLD_DEFAULT.hash(PASSWORD), "scrypt:32768:8:1$salt$0123"):
        renewed = fresh_hash(stale, PASSWORD)
        assert renewed is not None and not HASHER.check_needs_rehash(renewed) and HASHER.verify(renewed, PASSWORD)


def test_signing_in_for_a_token_rehashes_a_hash_with_argon2_cffis_old_default_parameters(world: World) -> None:
    applicant = world.home.applicant
    _set(world, applicant, password_hash=OLD_DEFAULT.hash(PASSWORD))
    response = world.client.post("/api/v1/tokens", auth=(applicant.name, PASSWORD), json={})
    assert response.status_code == 201
    stored = _stored(world, applicant)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and HASHER.verify(stored, PASSWORD)


def test_signing_in_through_the_form_rehashes_a_hash_with_old_parameters(world: World) -> None:
    reviewer = world.home.reviewer
    old = OLD_DEFAULT.hash(PASSWORD)
    _set(world, reviewer, password_hash=old)
    found = CSRF.search(world.client.get("/ui/sign-in").get_data(as_text=True))
    assert found
    data = {"username": reviewer.name, "password": PASSWORD, "csrf_token": found[1]}
    assert world.client.post("/ui/sign-in", data=data).status_code == 303
    stored = _stored(world, reviewer)
    assert stored != old and not HASHER.check_needs_rehash(stored) and HASHER.verify(stored, PASSWORD)


def test_http_basic_hashes_a_password_once_and_then_remembers_that_it_matched(world: World) -> None:
    auditor = world.home.auditor
    _set(world, auditor, password_hash=HASHER.hash(PASSWORD))
    assert _me(world, auditor) == 200
    hits = RECENT.hits
    assert [_me(world, auditor) for _ in range(3)] == [200, 200, 200]
    assert RECENT.hits == hits + 3


def test_a_changed_password_is_refused_at_once_although_the_old_one_was_remembered(world: World) -> None:
    auditor = world.home.auditor
    _set(world, auditor, password_hash=HASHER.hash(PASSWORD))
    assert [_me(world, auditor), _me(world, auditor)] == [200, 200]
    _set(world, auditor, password_hash=HASHER.hash("a-brand-new-password"))
    assert _me(world, auditor) == 401
    assert _me(world, auditor, "a-brand-new-password") == 200


def test_a_disabled_account_is_refused_at_once_although_its_password_was_remembered(world: World) -> None:
    auditor = world.home.auditor
    _set(world, auditor, password_hash=HASHER.hash(PASSWORD))
    assert [_me(world, auditor), _me(world, auditor)] == [200, 200]
    _set(world, auditor, active=False)
    assert _me(world, auditor) == 401


def test_a_wrong_password_is_never_remembered(world: World) -> None:
    auditor = world.home.auditor
    _set(world, auditor, password_hash=HASHER.hash(PASSWORD))
    hits = RECENT.hits
    assert [_me(world, auditor, "wrong"), _me(world, auditor, "wrong")] == [401, 401]
    assert RECENT.hits == hits


def test_a_remembered_check_is_forgotten_after_its_time_and_the_oldest_goes_first_when_full() -> None:
    clock = [1000.0]
    recent = RecentChecks(ttl=120, size=2, now=lambda: clock[0])
    recent.remember("$argon2id$one", "p1")
    assert recent.matched("$argon2id$one", "p1") and not recent.matched("$argon2id$one", "p2")
    clock[0] += 121
    assert not recent.matched("$argon2id$one", "p1")
    for name in ("a", "b", "c"):
        recent.remember(f"$argon2id${name}", "p")
    assert [recent.matched(f"$argon2id${name}", "p") for name in ("a", "b", "c")] == [False, True, True]


def test_what_is_remembered_is_a_keyed_digest_never_the_password() -> None:
    recent = RecentChecks()
    recent.remember("$argon2id$stored", PASSWORD)
    assert all(PASSWORD.encode() not in key and len(key) == 32 for key in recent._seen)
    assert RecentChecks()._key != recent._key  # a key per process, kept nowhere: another process cannot match it
