"""R43 / C7 over the API: the holder's request, the decider's field-level diff and decision, scope and field errors."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.conftest import World
from tests.integration.support import fx10_cytokine, grant
from workflow.store.tables import CertificateRow


def _certificate(world: World) -> int:
    number = grant(world.container, world.home, fx10_cytokine(10))
    with world.container.sessions() as session:
        found = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number))
    assert found is not None
    return int(found)


def test_r43_an_amendment_asked_over_the_api_is_decided_on_its_diff_and_keeps_the_validity(world: World) -> None:
    certificate_id = _certificate(world)
    particulars = {"contact_person": "赵六", "phone": "0592-1234567", "agent": "", "ports": ["厦门海沧港"]}
    body = {"kind": "amendment", "reason": "联系人变更", "particulars": particulars}
    asked = world.call(world.home.applicant, "POST", f"/api/v1/certificates/{certificate_id}/changes", json=body)
    assert asked.status_code == 201, asked.get_json()
    change = asked.get_json()
    assert {item["field"] for item in change["changes"]} == {"contact_person", "phone", "ports"}

    path = f"/api/v1/certificate-changes/{change['id']}"
    assert world.call(world.far.decider, "GET", path).status_code == 404  # another district's: not found
    decided = world.call(world.home.decider, "POST", f"{path}/decision", json={"approve": True, "reason": ""})

    assert decided.status_code == 200 and decided.get_json()["state"] == "approved"
    assert decided.get_json()["valid_until"] == change["valid_until"]


def test_r43_a_bad_phone_is_refused_at_its_field_and_nothing_is_filed(world: World) -> None:
    certificate_id = _certificate(world)
    body = {"kind": "amendment", "particulars": {"phone": "call me"}}
    refused = world.call(world.home.applicant, "POST", f"/api/v1/certificates/{certificate_id}/changes", json=body)
    assert refused.status_code in (400, 422)
    assert "phone" in str(refused.get_json())
    listed = world.call(world.home.applicant, "POST", f"/api/v1/certificates/{certificate_id}/changes",
                        json={"kind": "cancellation", "reason": "不再需要"})  # fmt: skip
    assert listed.status_code == 201  # nothing was left open by the refused one


def test_c7_another_enterprise_cannot_ask_and_a_replacement_draft_is_made_for_the_holder(world: World) -> None:
    certificate_id = _certificate(world)
    path = f"/api/v1/certificates/{certificate_id}"
    rival = world.call(world.rival.applicant, "POST", f"{path}/changes", json={"kind": "cancellation", "reason": "x"})
    assert rival.status_code == 404
    made = world.call(world.home.applicant, "POST", f"{path}/replacement")
    assert made.status_code == 201 and made.get_json()["replaces_certificate_id"] == certificate_id
    draft = world.call(world.home.applicant, "GET", f"/api/v1/applications/{made.get_json()['application_id']}")
    assert draft.get_json()["state"] == "draft" and draft.get_json()["lines"][0]["quantity"] == "10"
