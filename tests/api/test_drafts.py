"""`PATCH /api/v1/applications/{id}`: the applicant revises a draft's goods, guarded by its version."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import CYTOKINE, attach_all, file_draft
from workflow.store import api_reads

SERUM = {
    "name_zh": "人血清",
    "name_en": "Human serum",
    "category": "blood",
    "quantity": "20",
    "unit": "管",
    "involves_hgr": True,
    "user_lab": "central lab",
}


def _patch(world: World, application_id: int, body: dict[str, Any], actor: Any = None) -> Any:
    return world.call(actor or world.home.applicant, "PATCH", f"/api/v1/applications/{application_id}", json=body)


def _trail(world: World, application_id: int) -> list[dict[str, Any]]:
    with world.container.sessions() as session:
        return api_reads.audit_trail(session, "application", application_id)


def test_a_draft_is_revised_in_place_with_an_audited_event(world: World) -> None:
    draft = file_draft(world)
    body = {"direction": "exit", "lines": [CYTOKINE, SERUM], "version": draft["version"]}
    revised = _patch(world, draft["id"], body)
    assert revised.status_code == 200, revised.json
    assert revised.json["direction"] == "exit"
    assert [line["name_zh"] for line in revised.json["lines"]] == ["重组人IL-6", "人血清"]
    assert revised.json["version"] == draft["version"] + 1 and revised.json["state"] == "draft"
    (event,) = [event for event in _trail(world, draft["id"]) if event["trigger"] == "revise"]
    assert event["inputs"] == {
        "before": {"direction": "entry", "lines": 1, "ports": []},
        "after": {"direction": "exit", "lines": 2, "ports": []},
    }


def test_a_stale_version_is_a_409_and_changes_nothing(world: World) -> None:
    draft = file_draft(world)
    first = _patch(world, draft["id"], {"direction": "exit", "lines": [SERUM], "version": draft["version"]})
    assert first.status_code == 200
    stale = _patch(world, draft["id"], {"direction": "entry", "lines": [CYTOKINE], "version": draft["version"]})
    assert stale.status_code == 409
    lines = world.call(world.home.applicant, "GET", f"/api/v1/applications/{draft['id']}").json["lines"]
    assert [line["name_zh"] for line in lines] == ["人血清"]


def test_a_submitted_application_cannot_be_revised_and_bad_input_names_the_field(world: World) -> None:
    draft = file_draft(world)
    empty = _patch(world, draft["id"], {"direction": "entry", "lines": []})
    assert empty.status_code == 422 and "lines" in str(empty.json)
    attach_all(world, draft["id"])
    submitted = world.call(world.home.applicant, "POST", f"/api/v1/applications/{draft['id']}/submit")
    assert submitted.status_code == 200, submitted.json
    refused = _patch(world, draft["id"], {"direction": "entry", "lines": [SERUM]})
    assert refused.status_code == 409 and "cannot be edited" in refused.json["detail"]


def test_only_the_enterprise_s_own_applicant_may_revise(world: World) -> None:
    draft = file_draft(world)
    for actor in (world.home.reviewer, world.home.auditor):
        assert _patch(world, draft["id"], {"direction": "exit", "lines": [SERUM]}, actor).status_code in (403, 404)
