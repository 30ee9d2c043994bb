"""The whole path over `/api/v1`: file, attach, submit, accept, review, grant, declare, write off, reverse."""

from __future__ import annotations

import io
from typing import Any

from tests.api.conftest import World
from tests.integration.support import PDF, view_required_documents

CYTOKINE = {
    "name_zh": "重组人IL-6",
    "name_en": "IL-6",
    "category": "biological_product",
    "quantity": "100",
    "unit": "支",
    "protein_purity": "purified",
    "user_lab": "P2",
}


def file_draft(world: World) -> dict[str, Any]:
    body = {"district": "xiamen", "direction": "entry", "lines": [CYTOKINE]}
    response = world.call(world.home.applicant, "POST", "/api/v1/applications", json=body)
    assert response.status_code == 201, response.json
    return dict(response.json)


def attach_all(world: World, application_id: int) -> None:
    for doc_type in view_required_documents(world.container, application_id):
        response = world.call(
            world.home.applicant,
            "POST",
            f"/api/v1/applications/{application_id}/documents",
            data={"doc_type": doc_type, "file": (io.BytesIO(PDF), "../../etc/passwd.pdf")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.json


def granted(world: World) -> dict[str, Any]:
    """A granted application, through the API only; returns its final view."""
    application_id = file_draft(world)["id"]
    attach_all(world, application_id)
    steps = [
        (world.home.applicant, "submit", None),
        (world.home.acceptor, "accept", None),
        (world.home.reviewer, "start-review", None),
        (world.home.decider, "grant", {"reason": "documents complete"}),
    ]
    view: dict[str, Any] = {}
    for actor, action, body in steps:
        response = world.call(actor, "POST", f"/api/v1/applications/{application_id}/{action}", json=body)
        assert response.status_code == 200, (action, response.json)
        view = response.json
    return view


def test_an_application_filed_over_http_is_granted_and_its_certificate_written_off(world: World) -> None:
    view = granted(world)
    assert view["state"] == "granted" and view["certificate"]["grade"] == "C"
    certificate = view["certificate"]
    body = {
        "declaration_no": "DEC0000000001",
        "certificate_no": certificate["certificate_no"],
        "declared_on": "2016-06-01",
        "direction": "entry",
        "lines": [{"line_no": 1, "qty": "30"}],
    }
    declared = world.call(world.home.applicant, "POST", "/api/v1/declarations", json=body)
    assert declared.status_code == 201, declared.json
    if declared.json["state"] == "inspection":  # the recorded draw sent it to the port check (E2)
        released = world.call(
            world.home.port_officer,
            "POST",
            f"/api/v1/declarations/{declared.json['id']}/inspection",
            json={"outcome": "pass"},
        )
        assert released.status_code == 200, released.json
    remaining = world.call(world.home.applicant, "GET", f"/api/v1/certificates/{certificate['id']}/remaining").json
    assert remaining["lines"][0]["remaining_qty"] == "70"
    history = world.call(world.home.applicant, "GET", f"/api/v1/certificates/{certificate['id']}/write-offs").json
    commit = next(entry for entry in history["items"] if entry["kind"] == "commit")
    assert commit["qty"] == "30" and commit["declaration_no"] == "DEC0000000001"
    reversal = world.call(
        world.home.port_officer,
        "POST",
        f"/api/v1/write-offs/{commit['id']}/reversals",
        json={"qty": "5", "reason_code": "quantity_correction", "reason": "miscounted"},
    )
    assert reversal.status_code == 201, reversal.json
    too_much = world.call(
        world.home.port_officer,
        "POST",
        f"/api/v1/write-offs/{commit['id']}/reversals",
        json={"qty": "26", "reason_code": "quantity_correction", "reason": "more than is left to reverse"},
    )
    assert (too_much.status_code, too_much.json["field"], too_much.json["rule_id"]) == (422, "qty", "W10")
    decided = world.call(
        world.home.decider, "POST", f"/api/v1/reversals/{reversal.json['id']}/decision", json={"approve": True}
    )
    assert decided.status_code == 200 and decided.json["state"] == "approved", decided.json
    remaining = world.call(world.home.applicant, "GET", f"/api/v1/certificates/{certificate['id']}/remaining").json
    assert remaining["lines"][0]["remaining_qty"] == "75"


def test_an_uploaded_name_keeps_no_directory_and_gets_the_extension_of_its_bytes(world: World) -> None:
    application_id = file_draft(world)["id"]
    attach_all(world, application_id)
    documents = world.call(world.home.applicant, "GET", f"/api/v1/applications/{application_id}").json["documents"]
    assert documents and all(doc["filename"] == "passwd.pdf" for doc in documents)


def test_a_transition_out_of_order_is_409_and_a_refused_guard_422_both_naming_the_rule(world: World) -> None:
    application_id = file_draft(world)["id"]
    early = world.call(world.home.acceptor, "POST", f"/api/v1/applications/{application_id}/accept")
    assert early.status_code == 409 and early.mimetype == "application/problem+json"
    assert early.json["title"] == "InvalidTransition" and early.json["rule_id"]
    incomplete = world.call(world.home.applicant, "POST", f"/api/v1/applications/{application_id}/submit")
    assert incomplete.status_code == 422 and incomplete.json["rule_id"], incomplete.json
    state = world.call(world.home.applicant, "GET", f"/api/v1/applications/{application_id}").json["state"]
    assert state == "draft"


def test_an_applicant_cannot_grant_its_own_application(world: World) -> None:
    application_id = file_draft(world)["id"]
    attach_all(world, application_id)
    world.call(world.home.applicant, "POST", f"/api/v1/applications/{application_id}/submit")
    world.call(world.home.acceptor, "POST", f"/api/v1/applications/{application_id}/accept")
    response = world.call(world.home.applicant, "POST", f"/api/v1/applications/{application_id}/grant", json={})
    assert response.status_code == 403 and response.json["status"] == 403
