"""IDOR: generated from the route table, every `/api/v1` route is called as every role it is not for, and as every
user of another enterprise or district; each must answer 403 or 404 and change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.conftest import World, home_objects
from web.authz import Guard
from workflow.domain.actors import Actor
from workflow.store.tables import AuditEventRow, CertificateRow, NotificationRow

PUBLIC = {"openapi.spec", "auth.sign_in"}  # the document, and the place credentials are checked
OWN_USER = {"token_id", "notification_id"}  # objects of one user: everybody else is an outsider


def _bodies(world: World) -> dict[str, Any]:
    """Valid bodies for the POSTs that name their object in the body rather than the path."""
    with world.container.sessions() as session:
        number = session.scalar(select(CertificateRow.certificate_no))
    line = {"name_zh": "IL-6", "quantity": "1", "unit": "支", "category": "biological_product"}
    declaration = {
        "declaration_no": "DEC-IDOR-1", "certificate_no": number, "declared_on": "2016-06-01",
        "direction": "entry", "lines": [{"line_no": 1, "qty": "1"}],
    }  # fmt: skip
    return {
        "api.create_application": {
            "enterprise_id": world.home.enterprise_id, "district": "xiamen", "direction": "entry", "lines": [line],
        },
        "writeoffs.declare": declaration,
        "writeoffs.declare_batch": {"declarations": [declaration, {**declaration, "declaration_no": "DEC-IDOR-2"}]},
    }  # fmt: skip


def _routes(world: World) -> list[tuple[str, str, str, Guard]]:
    app = world.client.application
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint in PUBLIC:
            continue
        view = app.view_functions[rule.endpoint]
        assert isinstance(getattr(view, "guard", None), Guard), f"{rule.endpoint} declares no guard"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, rule.endpoint, view.guard))
    return found


def _outsiders(world: World, args: set[str]) -> list[Actor]:
    """Users who may hold the right role but not this object: another enterprise's, another district's."""
    if args & OWN_USER:
        return [actor for actor in world.actors() if actor != world.home.applicant]
    return [world.rival.applicant, *world.far.officers.values(), world.far.applicant]


def _audit_count(world: World) -> int:
    with world.container.sessions() as session:
        return session.scalar(select(func.count()).where(AuditEventRow.object_type != "user")) or 0


def _notification_unread(world: World, notification_id: int) -> bool:
    with world.container.sessions() as session:
        return session.scalar(select(NotificationRow.read_at).where(NotificationRow.id == notification_id)) is None


def test_every_route_refuses_other_roles_and_other_enterprises_and_districts(world: World) -> None:
    objects = home_objects(world)
    bodies = _bodies(world)
    before = _audit_count(world)
    refused, checked = [], 0
    for method, rule, endpoint, guard in _routes(world):
        args = set(re.findall(r"<int:(\w+)>", rule))
        path = re.sub(r"<int:(\w+)>", lambda m: str(objects[m.group(1)]), rule)
        wrong_role = [actor for actor in world.actors() if not guard.allows(actor.role)]
        outsiders = [actor for actor in _outsiders(world, args) if guard.allows(actor.role)]
        if (not args and method == "GET") or endpoint in ("precheck.precheck", "auth.list_tokens", "auth.me"):
            outsiders = []  # lists are scoped, not refused: test_lists_show_only_what_the_caller_may_see
        for actor in wrong_role + outsiders:
            response = world.call(actor, method, path, json=bodies.get(endpoint, {}) if method == "POST" else None)
            checked += 1
            if response.status_code not in (403, 404):
                refused.append((method, path, actor.name, response.status_code, response.get_json()))
    assert not refused, refused
    assert checked > 500
    assert _audit_count(world) == before, "a refused request changed something"
    assert _notification_unread(world, objects["notification_id"])


@pytest.mark.parametrize(
    "path", ["/api/v1/applications", "/api/v1/certificates", "/api/v1/declarations", "/api/v1/enterprises"]
)
def test_lists_show_only_what_the_caller_may_see(world: World, path: str) -> None:
    home_objects(world)
    mine = world.call(world.home.applicant, "GET", path).json["items"]
    assert mine, "the home applicant sees its own"
    for actor in (world.rival.applicant, *world.far.officers.values()):
        items = world.call(actor, "GET", path).json["items"]
        owners = {item.get("enterprise_id", item["id"]) for item in items}
        assert world.home.enterprise_id not in owners, (actor.name, items)


def test_an_auditor_reads_but_never_writes(world: World) -> None:
    objects = home_objects(world)
    auditor = world.home.auditor
    assert world.call(auditor, "GET", f"/api/v1/applications/{objects['application_id']}").status_code == 200
    assert world.call(auditor, "GET", "/api/v1/audit-events").status_code == 200
    response = world.call(auditor, "POST", f"/api/v1/applications/{objects['application_id']}/withdraw", json={})
    assert response.status_code == 403 and response.mimetype == "application/problem+json"


def test_without_credentials_every_route_is_401(world: World) -> None:
    for method, rule, _endpoint, _guard in _routes(world):
        path = re.sub(r"<int:(\w+)>", "1", rule)
        response = world.client.open(path, method=method, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.status_code)
        assert "Bearer" in response.headers.get("WWW-Authenticate", ""), path
