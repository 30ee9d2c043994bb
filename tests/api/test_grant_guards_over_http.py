"""R32 and A8 over `/api/v1`: no grant without the required assessment, a panel's rejection holds until the head
overrides it in writing, and each refusal is a problem naming its rule, with nothing written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import attach_all
from tests.conftest import ensure_experts
from tests.integration.labs import reference_lab
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.assessment import Opinion
from workflow.store.tables import AuditEventRow, CertificateRow, PanelSeatRow, RiskAssessmentRow

ECOLI = {
    "name_zh": "大肠杆菌O157:H7",
    "category": "microorganism",
    "quantity": "10",
    "unit": "株",
    "pathogen_class": 3,
    "bsl_level": 2,
    "user_lab": "P2",
}


def post(world: World, actor: Actor, path: str, body: dict[str, Any] | None = None) -> Any:
    return world.call(actor, "POST", path, json=body)


def under_review(world: World) -> str:
    """A grade B file (class 3 pathogen, R29) in review, filed and moved through the API."""
    lab = {"lab_id": reference_lab(world.container, world.home.enterprise_id)}  # R62 is met; these tests are on R32/A8
    response = post(world, world.home.applicant, "/api/v1/applications", {"district": "xiamen", "direction": "entry",
                                                                           "lines": [ECOLI | lab]})  # fmt: skip
    assert response.status_code == 201, response.json
    path = f"/api/v1/applications/{response.json['id']}"
    attach_all(world, response.json["id"])
    for actor, action in ((world.home.applicant, "submit"), (world.home.acceptor, "accept"),
                          (world.home.reviewer, "start-review")):  # fmt: skip
        assert post(world, actor, f"{path}/{action}").status_code == 200
    return path


def written(world: World) -> tuple[int, int]:
    with world.container.sessions() as session:
        events = session.scalar(select(func.count()).select_from(AuditEventRow))
        certificates = session.scalar(select(func.count()).select_from(CertificateRow))
    return int(events or 0), int(certificates or 0)


def panel_concludes(world: World, path: str, opinion: Opinion) -> None:
    """The experts act through the bus, as their desk does; enough of them answer for the panel to conclude."""
    ensure_experts(world.container, "xiamen", 5)
    referred = post(world, world.home.reviewer, f"{path}/refer-assessment", {"reason": "R32"})
    assert referred.status_code == 200, referred.json
    with world.container.sessions() as session:
        assessment_id = int(session.scalar(select(func.max(RiskAssessmentRow.id))) or 0)
        panel = list(session.scalars(select(PanelSeatRow.expert_id).where(PanelSeatRow.assessment_id == assessment_id)))
    for expert_id in panel:
        if world.container.bus.handle(c.SubmitOpinion(Actor(expert_id, Role.EXPERT), assessment_id, opinion))[
            "concluded"
        ]:
            return
    raise AssertionError("the panel never concluded")


def test_r32_a_grade_b_file_is_not_granted_without_its_risk_assessment(world: World) -> None:
    path = under_review(world)
    before = written(world)

    refused = post(world, world.home.decider, f"{path}/grant", {"reason": "documents complete"})

    assert refused.status_code == 422, refused.json
    assert refused.json["rule_id"] == "R32"
    assert written(world) == before


def test_r32_setting_a_lower_grade_by_hand_does_not_skip_the_panel(world: World) -> None:
    path = under_review(world)

    refused = post(world, world.home.decider, f"{path}/grant", {"reason": "lowered", "grade": "C"})

    assert (refused.status_code, refused.json["rule_id"]) == (422, "R32")


def test_a8_a_rejection_holds_until_the_head_overrides_it_in_writing(world: World) -> None:
    path = under_review(world)
    panel_concludes(world, path, Opinion.REJECT)
    before = written(world)

    assert post(world, world.home.decider, f"{path}/grant", {"reason": "x"}).json["rule_id"] == "A8"
    assert post(world, world.home.head, f"{path}/override-assessment", {"reason": " "}).status_code == 422
    assert post(world, world.home.decider, f"{path}/override-assessment", {"reason": "mine"}).status_code == 403
    assert written(world) == before

    overridden = post(world, world.home.head, f"{path}/override-assessment", {"reason": "复核材料后风险可控"})
    assert overridden.status_code == 200, overridden.json
    granted = post(world, world.home.decider, f"{path}/grant", {"reason": "负责人已推翻驳回意见"})
    assert granted.status_code == 200, granted.json
    trail = world.call(world.home.auditor, "GET", f"{path}/audit").json
    events = [event["trigger"] for event in trail]
    assert "override_assessment" in events and events.index("override_assessment") < events.index("grant")
