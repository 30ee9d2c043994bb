"""One permission check per action (issue 13, item 5): the API, the HTML routes and the engine ask the same table.

Generated from `app.url_map`: every state-changing route of both doors names its action, the two doors give each
action the same roles as workflow/domain/permissions.py, and every role the table refuses is refused at every door
(403/404 on the API, 403 on the pages, a sign-in redirect for nobody) with nothing written. The UI claim that let
auditors, experts, port and destination officers and administrators write (30 writes in the report) is pinned too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.api.conftest import World, home_objects
from tests.api.test_claims_and_ports import _submitted
from web.authz import Guard
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import PermissionDenied
from workflow.domain.lifecycle import APPLICATION, DECLARATION
from workflow.domain.permissions import PERMISSIONS, Action, role_may, roles_for
from workflow.store.accounts import issue_session, issue_token
from workflow.store.directory import create_user
from workflow.store.tables import (
    ApplicationRow,
    AuditEventRow,
    DeclarationRow,
    DocumentRow,
    EnterpriseRow,
    LedgerEntryRow,
    NotificationRow,
    OutboxRow,
    ReversalRow,
    UserRow,
)

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
# Routes that change no workflow data, each for its reason; everything else that is not a GET names its action.
API_NO_ACTION = {
    "auth.sign_in": "the place credentials are checked",
    "auth.revoke": "one's own token",
    "precheck.precheck": "a computation: nothing is stored",
}
UI_NO_ACTION = {
    "ui_auth.sign_in": "the place credentials are checked",
    "ui_auth.sign_out": "one's own session",
    "ui_auth.language": "one's own session",
    "ui_applicant.precheck": "a computation: nothing is stored",
    "ui_applicant.profile": "checks a credit code: nothing is stored",
}
# Transitions a person may fire by the table but no door offers on its own: the routing fires them as the system.
ONLY_THROUGH_ROUTING = {"declaration.release": "a held declaration's split or a declare routes to release"}
TABLES = (
    ApplicationRow,
    AuditEventRow,
    DeclarationRow,
    DocumentRow,
    EnterpriseRow,
    LedgerEntryRow,
    OutboxRow,
    ReversalRow,
    UserRow,
)


@dataclass(frozen=True)
class Door:
    """One concrete state-changing request a role can send: the door, the method, the path and its action."""

    door: str
    method: str
    path: str
    endpoint: str
    action: Action | None


def _path(rule: str, objects: dict[str, int], argument: str = "", value: str = "") -> str:
    path = re.sub(r"<int:(\w+)>", lambda m: str(objects.get(m.group(1), 1)), rule)
    return path.replace(f"<{argument}>", value) if argument else path


def _rules(world: World, prefix: str) -> Iterator[tuple[Any, Any, str]]:
    app = world.client.application
    for rule in app.url_map.iter_rules():
        methods = (rule.methods or set()) & CHANGING
        if rule.rule.startswith(prefix):
            for method in sorted(methods):
                yield rule, app.view_functions[rule.endpoint], method


def api_doors(world: World, objects: dict[str, int]) -> list[Door]:
    return [
        Door("api", method, _path(rule.rule, objects), rule.endpoint, view.guard.action)
        for rule, view, method in _rules(world, "/api/v1")
        if rule.endpoint != "auth.sign_in"
    ]


def ui_doors(world: World, objects: dict[str, int]) -> list[Door]:
    """A route whose path argument names the action (`act/<trigger>`) is one door per value."""
    doors = []
    for rule, view, method in _rules(world, "/ui"):
        if hasattr(view, "ui_actions"):
            argument, actions = view.ui_actions
            doors += [
                Door("ui", method, _path(rule.rule, objects, argument, value), rule.endpoint, action)
                for value, action in actions.items()
            ]
        elif rule.endpoint not in UI_NO_ACTION:
            doors.append(Door("ui", method, _path(rule.rule, objects), rule.endpoint, view.ui_action))
    return doors


# -- the world: every role of the home district, an open application -----------------------------------------------


@pytest.fixture
def dest_officer(world: World) -> Actor:
    """The casts have no destination officer (目的地海关); the home district gets one, signed in like the rest."""
    now = world.container.deps.clock.now()
    with world.container.sessions() as session, session.begin():
        user = create_user(
            session, username="xiamen.dest", role=Role.DEST_OFFICER, password_hash="", now=now, district="xiamen"
        )
        world.tokens[user.id] = issue_token(session, user.id, "tests", now, timedelta(days=1)).token
    return Actor(user.id, Role.DEST_OFFICER, "xiamen.dest", district="xiamen")


@pytest.fixture
def everyone(world: World, dest_officer: Actor) -> list[Actor]:
    """One user of every role, all able to see the home enterprise's objects."""
    return [world.admin, world.home.applicant, *world.home.officers.values(), dest_officer]


@pytest.fixture
def objects(world: World) -> dict[str, int]:
    """The home enterprise's objects; the application is an open one, so a claim that got through would show."""
    return {**home_objects(world), "application_id": _submitted(world)}


def signed_in(world: World, actor: Actor) -> tuple[FlaskClient, str]:
    """A browser session of `actor` (Flask-Login's session key) and its CSRF token, as a page would carry it."""
    client = world.client.application.test_client()
    with world.container.sessions() as db, db.begin():  # a session is a row on the server; the cookie names it
        issued = issue_session(db, actor.user_id or 0, world.container.deps.clock.now(), timedelta(hours=1))
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = issued.token, True
    found = CSRF.search(client.get("/ui/sign-in").get_data(as_text=True))
    assert found, "no CSRF token on the sign-in page"
    return client, found.group(1)


def fingerprint(world: World) -> tuple[Any, ...]:
    """Row counts, versions, claims and unread notices: a refused request leaves every one as it was."""
    with world.container.sessions() as session:
        counts = tuple(session.scalar(select(func.count()).select_from(table)) for table in TABLES)
        versions = tuple(session.scalar(select(func.sum(row.version))) for row in (ApplicationRow, EnterpriseRow))
        claims = tuple(session.scalars(select(ApplicationRow.claimed_by).order_by(ApplicationRow.id)))
        unread = session.scalar(select(func.count()).where(NotificationRow.read_at.is_(None)))
        users = tuple(session.execute(select(UserRow.active, UserRow.is_enterprise_admin).order_by(UserRow.id)))
    return counts, versions, claims, unread, users


def send(world: World, actor: Actor, door: Door) -> Any:
    if door.door == "api":
        return world.call(actor, door.method, door.path, json={})
    client, token = signed_in(world, actor)
    return client.open(door.path, method=door.method, data={"csrf_token": token, "reason": "x", "user_id": "1"})


# -- the tests -------------------------------------------------------------------------------------------------------


def test_every_state_changing_route_of_both_doors_declares_its_action(world: World) -> None:
    undeclared = []
    for rule, view, method in _rules(world, "/api/v1"):
        guard = getattr(view, "guard", None)
        if rule.endpoint == "auth.sign_in":
            continue
        if not isinstance(guard, Guard) or (guard.action is None and rule.endpoint not in API_NO_ACTION):
            undeclared.append((method, rule.rule))
    for rule, view, method in _rules(world, "/ui"):
        declared = hasattr(view, "ui_action") or hasattr(view, "ui_actions")
        if not declared and rule.endpoint not in UI_NO_ACTION:
            undeclared.append((method, rule.rule))
    assert not undeclared, undeclared
    assert not [name for name in (*API_NO_ACTION, *UI_NO_ACTION) if name not in world.client.application.view_functions]


def test_both_doors_give_each_action_exactly_the_roles_of_the_permission_table(world: World) -> None:
    objects = {"application_id": 1}
    doors = api_doors(world, objects) + ui_doors(world, objects)
    by_door: dict[tuple[str, Action], set[frozenset[Role]]] = {}
    app = world.client.application
    for door in doors:
        if door.action is None:
            continue
        view = app.view_functions[door.endpoint]
        # A page names one action (`ui_roles` is what its gate lets in), or picks it by a path argument per request.
        roles = view.guard.roles if door.door == "api" else getattr(view, "ui_action", None) and view.ui_roles
        by_door.setdefault((door.door, door.action), set()).add(frozenset(roles or roles_for(door.action)))
    for (name, action), role_sets in by_door.items():
        assert role_sets == {roles_for(action)}, (name, action, role_sets)
    both = {action for name, action in by_door if name == "ui"} & {action for name, action in by_door if name == "api"}
    assert Action.CLAIM in both and Action.DECLARE in both and len(both) >= 20, sorted(both)
    assert {action for _name, action in by_door} <= set(PERMISSIONS), "a door names an action outside the table"


def test_every_role_the_table_refuses_is_refused_at_every_door_with_nothing_written(
    world: World, everyone: list[Actor], objects: dict[str, int]
) -> None:
    before, tried, wrong = fingerprint(world), 0, []
    for door in api_doors(world, objects) + ui_doors(world, objects):
        if door.action is None:
            continue
        for actor in everyone:
            if role_may(actor.role, door.action):
                continue
            response = send(world, actor, door)
            tried += 1
            allowed = (403, 404) if door.door == "api" else (403,)
            if response.status_code not in allowed:
                wrong.append((door.door, door.method, door.path, actor.role.value, response.status_code))
    assert not wrong, wrong
    assert tried > 250
    assert fingerprint(world) == before, "a refused request wrote something"


def test_nobody_signed_in_is_sent_to_sign_in_by_every_page_action(world: World, objects: dict[str, int]) -> None:
    before = fingerprint(world)
    client = world.client.application.test_client()
    found = CSRF.search(client.get("/ui/sign-in").get_data(as_text=True))
    assert found, "no CSRF token on the sign-in page"
    for door in ui_doors(world, objects):
        response = client.open(door.path, method=door.method, data={"csrf_token": found.group(1)})
        assert response.status_code == 302 and "/ui/sign-in" in response.headers["Location"], door.path
    assert fingerprint(world) == before


@pytest.mark.parametrize("action", ["claim", "unclaim"])
def test_a_claim_through_the_pages_is_refused_to_every_role_the_api_refuses(
    world: World, everyone: list[Actor], objects: dict[str, int], action: str
) -> None:
    """The reported hole: auditor, expert, port and destination officer, admin — and the applicant."""
    application_id = objects["application_id"]
    if action == "unclaim":
        assert world.call(world.home.head, "POST", f"/api/v1/applications/{application_id}/claim").status_code == 200
    before = fingerprint(world)
    outcomes = {}
    for actor in everyone:
        if not role_may(actor.role, Action(f"application.{action}")):
            client, token = signed_in(world, actor)
            page = client.post(f"/ui/applications/{application_id}/act/{action}", data={"csrf_token": token})
            api = world.call(actor, "POST", f"/api/v1/applications/{application_id}/{action}")
            outcomes[actor.role.value] = (page.status_code, api.status_code)
    assert set(outcomes) == {"applicant", "expert", "port_officer", "dest_officer", "auditor", "admin"}
    assert set(outcomes.values()) == {(403, 403)}, outcomes
    assert fingerprint(world) == before


def test_the_queue_officers_claim_and_give_back_through_either_door(world: World, objects: dict[str, int]) -> None:
    application_id = objects["application_id"]
    for officer in (world.home.acceptor, world.home.reviewer, world.home.decider, world.home.head):
        client, token = signed_in(world, officer)
        claim = client.post(f"/ui/applications/{application_id}/act/claim", data={"csrf_token": token})
        assert claim.status_code == 303, officer.role
        unclaim = world.call(officer, "POST", f"/api/v1/applications/{application_id}/unclaim")
        assert unclaim.status_code == 200 and unclaim.json["claimed_by"] is None, officer.role


def test_the_application_page_offers_the_claim_only_to_roles_that_may_claim(
    world: World, everyone: list[Actor], objects: dict[str, int]
) -> None:
    for actor in everyone:
        client, _token = signed_in(world, actor)
        page = client.get(f"/ui/applications/{objects['application_id']}").get_data(as_text=True)
        assert ('data-action="claim"' in page) == role_may(actor.role, Action.CLAIM), actor.role
        assert ('data-action="reassign"' in page) == role_may(actor.role, Action.REASSIGN), actor.role


def test_the_engine_asks_the_same_table_inside_the_transaction_whatever_the_door(
    world: World, everyone: list[Actor], objects: dict[str, int]
) -> None:
    """The bus is the CLI's and the tasks' door too: a command built by a door that skipped the check is refused."""
    application_id = objects["application_id"]
    before = fingerprint(world)
    for actor in everyone:
        for command, action in (
            (c.ClaimApplication(actor, application_id), Action.CLAIM),
            (c.ReassignApplication(actor, application_id, user_id=world.home.reviewer.user_id or 0), Action.REASSIGN),
        ):
            if role_may(actor.role, action):
                continue
            with pytest.raises(PermissionDenied):
                world.container.bus.handle(command)
    assert fingerprint(world) == before


def test_the_permission_table_reads_lifecycle_roles_from_the_transition_tables() -> None:
    """A transition's actors, minus the system, are the roles of its action: one source, never a copy."""
    assert roles_for(Action.GRANT) == frozenset(APPLICATION.spec("grant").actors)
    assert roles_for(Action.ACCEPT) == frozenset(APPLICATION.spec("accept").actors) - {Role.SYSTEM}
    assert roles_for(Action.WITHDRAW_DECLARATION) == frozenset(DECLARATION.spec("withdraw").actors)
    assert roles_for(Action.CLAIM) == {Role.ACCEPTOR, Role.REVIEWER, Role.DECIDER, Role.HEAD}
    assert roles_for(Action.REASSIGN) == {Role.HEAD}
    covered = {trigger for permission in PERMISSIONS.values() for trigger in permission.triggers}
    for lifecycle in (APPLICATION, DECLARATION):
        people = [spec.trigger for spec in lifecycle.specs if set(spec.actors) - {Role.SYSTEM}]
        missing = [name for name in (f"{lifecycle.name}.{trigger}" for trigger in people) if name not in covered]
        missing = [name for name in missing if name not in ONLY_THROUGH_ROUTING]
        assert not missing, f"{lifecycle.name}: no action of the permission table fires {missing}"
    writes = [action for action, permission in PERMISSIONS.items() if permission.writes]
    assert all(Role.AUDITOR not in roles_for(action) for action in writes), "auditors never write"
