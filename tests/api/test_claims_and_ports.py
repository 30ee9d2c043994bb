"""The review queue's claims (claim, unclaim, reassign: advisory, audited) and the ports an application names."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import CYTOKINE, attach_all, file_draft
from workflow.store import api_reads


def _submitted(world: World) -> int:
    application_id = int(file_draft(world)["id"])
    attach_all(world, application_id)
    response = world.call(world.home.applicant, "POST", f"/api/v1/applications/{application_id}/submit")
    assert response.status_code == 200, response.json
    return application_id


def _act(world: World, actor: Any, application_id: int, action: str, body: dict[str, Any] | None = None) -> Any:
    return world.call(actor, "POST", f"/api/v1/applications/{application_id}/{action}", json=body)


def _triggers(world: World, application_id: int) -> list[tuple[str, dict[str, Any]]]:
    with world.container.sessions() as session:
        trail = api_reads.audit_trail(session, "application", application_id)
    return [(event["trigger"], event["inputs"]) for event in trail if event["trigger"].endswith(("claim", "assign"))]


def test_an_officer_claims_a_file_and_a_second_claim_is_a_conflict(world: World) -> None:
    application_id = _submitted(world)
    acceptor, reviewer = world.home.acceptor, world.home.reviewer
    claimed = _act(world, acceptor, application_id, "claim")
    assert claimed.status_code == 200 and claimed.json["claimed_by"] == acceptor.user_id
    assert _act(world, acceptor, application_id, "claim").status_code == 200  # one's own claim again: no change
    assert _act(world, reviewer, application_id, "claim").status_code == 409
    assert _act(world, reviewer, application_id, "unclaim").status_code == 403
    released = _act(world, acceptor, application_id, "unclaim")
    assert released.status_code == 200 and released.json["claimed_by"] is None
    assert _triggers(world, application_id) == [
        ("claim", {"from": None, "to": acceptor.user_id}),
        ("unclaim", {"from": acceptor.user_id, "to": None}),
    ]


def test_only_the_head_reassigns_and_only_to_an_officer_of_the_district(world: World) -> None:
    application_id = _submitted(world)
    home, far = world.home, world.far
    assert _act(world, home.acceptor, application_id, "claim").status_code == 200
    body = {"user_id": home.reviewer.user_id}
    assert _act(world, home.reviewer, application_id, "reassign", body).status_code == 403
    moved = _act(world, home.head, application_id, "reassign", body)
    assert moved.status_code == 200 and moved.json["claimed_by"] == home.reviewer.user_id
    foreign = _act(world, home.head, application_id, "reassign", {"user_id": far.reviewer.user_id})
    assert foreign.status_code == 422 and "user_id" in str(foreign.json)
    applicant = _act(world, home.head, application_id, "reassign", {"user_id": home.applicant.user_id})
    assert applicant.status_code == 422
    assert [trigger for trigger, _ in _triggers(world, application_id)] == ["claim", "reassign"]


def test_drafts_are_in_no_queue_and_applicants_cannot_claim(world: World) -> None:
    draft = file_draft(world)
    assert _act(world, world.home.acceptor, draft["id"], "claim").status_code in (404, 409)
    application_id = _submitted(world)
    assert _act(world, world.home.applicant, application_id, "claim").status_code == 403


def test_an_application_names_its_ports_and_a_revision_keeps_or_replaces_them(world: World) -> None:
    body = {
        "district": "xiamen",
        "direction": "entry",
        "lines": [CYTOKINE],
        "ports": ["厦门高崎机场", " 厦门港 ", "厦门港"],
    }
    created = world.call(world.home.applicant, "POST", "/api/v1/applications", json=body)
    assert created.status_code == 201 and created.json["ports"] == ["厦门高崎机场", "厦门港"]
    path = f"/api/v1/applications/{created.json['id']}"
    kept = world.call(world.home.applicant, "PATCH", path, json={"direction": "entry", "lines": [CYTOKINE]})
    assert kept.json["ports"] == ["厦门高崎机场", "厦门港"]
    replaced = world.call(
        world.home.applicant, "PATCH", path, json={"direction": "entry", "lines": [CYTOKINE], "ports": ["福州港"]}
    )
    assert replaced.json["ports"] == ["福州港"]
    too_many = world.call(world.home.applicant, "POST", "/api/v1/applications", json=body | {"ports": ["p"] * 11})
    assert too_many.status_code == 422 and "ports" in str(too_many.json)
