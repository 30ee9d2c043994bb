"""R26 over the API: a decider's finding of false information or fraud bars the applicant, and the applicant's
next submission is refused with the rule named."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import attach_all, file_draft, granted
from workflow.store.tables import ApplicantBanRow, CertificateRow


def bans(world: World) -> int:
    with world.container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ApplicantBanRow)) or 0)


def draft_with_documents(world: World) -> int:
    draft = int(file_draft(world)["id"])
    attach_all(world, draft)
    return draft


def a_new_draft_is_refused(world: World) -> dict[str, Any]:
    draft = draft_with_documents(world)
    refused = world.call(world.home.applicant, "POST", f"/api/v1/applications/{draft}/submit")
    assert refused.status_code == 422, refused.json
    return dict(refused.json)


def test_r26_revoking_for_fraud_over_the_api_bars_the_holder(world: World) -> None:
    view = granted(world)
    with world.container.sessions() as session:
        certificate_id = session.scalar(select(CertificateRow.id).where(CertificateRow.application_id == view["id"]))
    path = f"/api/v1/certificates/{certificate_id}"

    assert world.call(world.home.reviewer, "POST", f"{path}/revoke", json={"reason": "x"}).status_code == 403
    assert (
        world.call(world.home.decider, "POST", f"{path}/cancel", json={"reason": "x", "fraud": True}).status_code == 422
    )
    assert world.call(world.home.decider, "POST", f"{path}/revoke", json={"reason": " "}).status_code == 422
    assert bans(world) == 0
    revoked = world.call(world.home.decider, "POST", f"{path}/revoke", json={"reason": "以贿赂取得", "fraud": True})

    assert revoked.status_code == 200, revoked.json
    assert revoked.json["state"] == "revoked" and bans(world) == 1
    assert a_new_draft_is_refused(world)["rule_id"] == "R26"


def test_r26_denying_for_false_information_over_the_api_bars_the_applicant(world: World) -> None:
    draft = draft_with_documents(world)
    for actor, action in ((world.home.applicant, "submit"), (world.home.acceptor, "accept"),
                          (world.home.reviewer, "start-review")):  # fmt: skip
        assert world.call(actor, "POST", f"/api/v1/applications/{draft}/{action}").status_code == 200
    deny = {"reason": "实验室证明系伪造 the lab permit is forged", "false_information": True}

    denied = world.call(world.home.decider, "POST", f"/api/v1/applications/{draft}/deny", json=deny)

    assert denied.status_code == 200, denied.json
    assert bans(world) == 1
    assert a_new_draft_is_refused(world)["rule_id"] == "R26"
