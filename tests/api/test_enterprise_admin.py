"""The enterprise's admin over the API: profile edits and applicant users, on both engines, every change audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from tests.api.conftest import World
from workflow.domain.actors import Actor
from workflow.store.tables import AuditEventRow, EnterpriseRow, UserRow

NEW_PASSWORD = "a long initial password"


def _make_admin(world: World, actor: Actor) -> None:
    with world.container.sessions() as session, session.begin():
        session.execute(update(UserRow).where(UserRow.id == actor.user_id).values(is_enterprise_admin=True))


def _events(world: World, object_type: str) -> list[tuple[str, int, dict[str, Any]]]:
    with world.container.sessions() as session:
        rows = session.scalars(
            select(AuditEventRow)
            .where(AuditEventRow.object_type == object_type, AuditEventRow.trigger != "login")
            .order_by(AuditEventRow.id)
        )
        return [(row.trigger, row.object_id, dict(row.inputs)) for row in rows]


def _enterprise(world: World) -> EnterpriseRow:
    with world.container.sessions() as session:
        row = session.get(EnterpriseRow, world.home.enterprise_id)
        assert row is not None
        return row


def _add(world: World, actor: Actor, username: str = "xiamen.clerk", **extra: Any) -> Any:
    body = {"username": username, "display_name": "王小明", "email": "clerk@example.cn", "password": NEW_PASSWORD}
    return world.call(actor, "POST", f"/api/v1/enterprises/{world.home.enterprise_id}/users", json={**body, **extra})


def _users(world: World) -> str:
    return f"/api/v1/enterprises/{world.home.enterprise_id}/users"


def _sign_in(world: World, username: str, password: str = NEW_PASSWORD) -> Any:
    return world.client.post("/api/v1/tokens", auth=(username, password), json={})


def test_the_admin_adds_a_user_who_can_then_sign_in(world: World) -> None:
    _make_admin(world, world.home.applicant)
    added = _add(world, world.home.applicant)
    assert added.status_code == 201, added.json
    assert added.json["active"] is True and added.json["is_admin"] is False
    issued = _sign_in(world, "xiamen.clerk")
    assert issued.status_code == 201, issued.json
    me = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {issued.json['token']}"})
    assert me.json["enterprise_id"] == world.home.enterprise_id and me.json["role"] == "applicant"
    with world.container.sessions() as session:
        stored = session.scalar(select(UserRow.password_hash).where(UserRow.username == "xiamen.clerk"))
    assert stored is not None and stored.startswith("$argon2id$")  # hashed by the API, never stored in clear
    assert ("add_user", added.json["id"], {"enterprise_id": world.home.enterprise_id, "display_name": "王小明",
            "email": "clerk@example.cn", "is_admin": False}) in _events(world, "user")  # fmt: skip
    listed = world.call(world.home.applicant, "GET", _users(world)).json["items"]
    assert {user["username"] for user in listed} == {world.home.applicant.name, "xiamen.clerk"}


def test_a_non_admin_applicant_is_refused_and_nothing_changes(world: World) -> None:
    path = f"/api/v1/enterprises/{world.home.enterprise_id}"
    assert world.call(world.home.applicant, "PATCH", path, json={"name": "改名"}).status_code == 403
    assert _add(world, world.home.applicant).status_code == 403
    change = world.call(world.home.applicant, "PATCH", f"{_users(world)}/{world.home.applicant.user_id}",
                        json={"is_admin": True})  # fmt: skip
    assert change.status_code == 403  # no one makes themselves admin
    assert world.call(world.home.applicant, "GET", _users(world)).status_code == 200  # reading is allowed
    assert _enterprise(world).name == "测试企业" and _events(world, "enterprise") == []


def test_another_enterprises_admin_sees_nothing(world: World) -> None:
    _make_admin(world, world.rival.applicant)
    path = f"/api/v1/enterprises/{world.home.enterprise_id}"
    assert world.call(world.rival.applicant, "PATCH", path, json={"name": "改名"}).status_code == 404
    assert _add(world, world.rival.applicant).status_code == 404
    home_user = f"/api/v1/enterprises/{world.rival.enterprise_id}/users/{world.home.applicant.user_id}"
    response = world.call(world.rival.applicant, "PATCH", home_user, json={"active": False})
    assert response.status_code == 404  # the home user is not the rival's, even through the rival's own path
    assert _enterprise(world).name == "测试企业"


def test_a_deactivated_user_cannot_sign_in_until_reactivated(world: World) -> None:
    _make_admin(world, world.home.applicant)
    user_id = _add(world, world.home.applicant).json["id"]
    token = _sign_in(world, "xiamen.clerk").json["token"]
    off = world.call(world.home.applicant, "PATCH", f"{_users(world)}/{user_id}", json={"active": False})
    assert off.status_code == 200 and off.json["active"] is False
    assert _sign_in(world, "xiamen.clerk").status_code == 401
    assert world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    on = world.call(world.home.applicant, "PATCH", f"{_users(world)}/{user_id}", json={"active": True})
    assert on.json["active"] is True and _sign_in(world, "xiamen.clerk").status_code == 201
    assert [t for t, i, _ in _events(world, "user") if i == user_id] == ["add_user", "deactivate", "reactivate"]


def test_the_last_admin_cannot_step_down_or_switch_themselves_off(world: World) -> None:
    me = world.home.applicant
    _make_admin(world, me)
    mine = f"{_users(world)}/{me.user_id}"
    for body, field in (({"is_admin": False}, "is_admin"), ({"active": False}, "active")):
        refused = world.call(me, "PATCH", mine, json=body)
        assert refused.status_code == 422 and refused.json["field"] == field, refused.json
    assert _events(world, "user") == []
    # With a second admin the first may step down; the second is then the last one.
    other = _add(world, me, is_admin=True).json["id"]
    assert world.call(me, "PATCH", mine, json={"is_admin": False}).json["is_admin"] is False
    assert world.call(me, "PATCH", f"{_users(world)}/{other}", json={"is_admin": True}).status_code == 403


def test_a_profile_edit_is_audited_and_a_stale_one_is_refused(world: World) -> None:
    _make_admin(world, world.home.applicant)
    path = f"/api/v1/enterprises/{world.home.enterprise_id}"
    body = {"address": "厦门市海沧区新阳路1号", "contact_person": "李华", "phone": "0592-6881234", "version": 0}
    edited = world.call(world.home.applicant, "PATCH", path, json=body)
    assert edited.status_code == 200, edited.json
    assert edited.json["phone"] == "0592-6881234" and edited.json["version"] == 1
    assert edited.json["uscc"] == _enterprise(world).uscc
    [(trigger, object_id, inputs)] = _events(world, "enterprise")
    assert (trigger, object_id) == ("edit_profile", world.home.enterprise_id)
    assert inputs["changes"]["phone"] == ["", "0592-6881234"]
    stale = world.call(world.home.applicant, "PATCH", path, json={"name": "旧版本上的修改", "version": 0})
    assert stale.status_code == 409 and _enterprise(world).name == "测试企业"
    assert world.call(world.home.applicant, "PATCH", path, json={"uscc": "91350200MA2Y8K3N0X"}).status_code == 422


def test_bad_input_is_a_field_error_and_writes_nothing(world: World) -> None:
    _make_admin(world, world.home.applicant)
    path = f"/api/v1/enterprises/{world.home.enterprise_id}"
    for body, field in (
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"name": "   "}, "name"),
        ({"name": ""}, "name"),
    ):
        response = world.call(world.home.applicant, "PATCH", path, json=body)
        assert response.status_code == 422 and response.json["field"] == field, (body, response.json)
    for extra, field in (({"email": "not-an-address"}, "email"), ({"password": "short"}, "password"),
                         ({"username": "空 格"}, "username")):  # fmt: skip
        response = _add(world, world.home.applicant, **extra)
        assert response.status_code == 422 and response.json["field"] == field, (extra, response.json)
    taken = _add(world, world.home.applicant, username=world.rival.applicant.name)
    assert taken.status_code == 422 and taken.json["field"] == "username"
    assert _events(world, "enterprise") == [] and _events(world, "user") == []
    assert _enterprise(world).version == 0


def test_a_customs_administrator_manages_any_enterprise_but_officers_may_not(world: World) -> None:
    path = f"/api/v1/enterprises/{world.home.enterprise_id}"
    assert world.call(world.admin, "PATCH", path, json={"contact_person": "海关代填"}).status_code == 200
    made = world.call(world.admin, "PATCH", f"{_users(world)}/{world.home.applicant.user_id}", json={"is_admin": True})
    assert made.status_code == 200 and made.json["is_admin"] is True
    assert world.call(world.home.reviewer, "PATCH", path, json={"contact_person": "x"}).status_code == 403
    assert [t for t, _, _ in _events(world, "enterprise")] == ["edit_profile"]
