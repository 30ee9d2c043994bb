"""The reviewer's opinion (A6) is customs' working paper: in the trail customs reads, not in the applicant's."""

from __future__ import annotations

from tests.api.conftest import World
from tests.api.test_grant_guards_over_http import ECOLI, post, under_review
from tests.api.test_lifecycle_over_http import attach_all
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.review import Recommendation


def test_the_review_opinion_is_in_the_deciders_trail_and_not_the_applicants(world: World) -> None:
    path = under_review(world)
    application_id = int(path.rsplit("/", 1)[1])
    opinion = c.RecordReviewOpinion(world.home.reviewer, application_id, "实验室等级不足", Recommendation.DENY)
    world.container.bus.handle(opinion)

    def triggers(actor: Actor) -> list[str]:
        response = world.call(actor, "GET", f"{path}/audit")
        assert response.status_code == 200, response.json
        return [event["trigger"] for event in response.json]

    assert "review_opinion" in triggers(world.home.decider)
    applicant = triggers(world.home.applicant)
    assert "review_opinion" not in applicant and "start_review" in applicant


# -- the two journey steps the pages had first: every door is the same door ------------------------------------------


def test_the_reviewer_records_the_opinion_over_the_api_and_the_decider_reads_it(world: World) -> None:
    path = under_review(world)
    body = {"recommendation": "deny", "reason": "实验室等级不足"}
    response = world.call(world.home.reviewer, "POST", f"{path}/review-opinion", json=body)
    assert response.status_code == 200, response.json
    trail = world.call(world.home.decider, "GET", f"{path}/audit").json
    opinion = [event for event in trail if event["trigger"] == "review_opinion"]
    assert opinion and opinion[-1]["reason"] == "实验室等级不足" and opinion[-1]["rule_ids"] == ["A6"]


def test_a_review_opinion_without_reasons_is_refused_at_the_reason_field(world: World) -> None:
    path = under_review(world)
    response = world.call(world.home.reviewer, "POST", f"{path}/review-opinion", json={"recommendation": "grant"})
    assert response.status_code == 422 and response.json["field"] == "reason", response.json


def test_an_applicant_may_not_record_a_review_opinion(world: World) -> None:
    path = under_review(world)
    body = {"recommendation": "grant", "reason": "都好"}
    assert world.call(world.home.applicant, "POST", f"{path}/review-opinion", json=body).status_code == 403


def test_the_applicant_removes_an_attachment_of_its_draft_and_it_leaves_the_attached_set(world: World) -> None:
    created = post(world, world.home.applicant, "/api/v1/applications", {"district": "xiamen", "direction": "entry",
                                                                        "lines": [ECOLI]})  # fmt: skip
    assert created.status_code == 201, created.json
    application_id = created.json["id"]
    attach_all(world, application_id)
    documents = world.call(world.home.applicant, "GET", f"/api/v1/applications/{application_id}").json["documents"]
    removed = documents[0]["id"]
    path = f"/api/v1/applications/{application_id}/documents/{removed}"

    assert world.call(world.home.reviewer, "DELETE", path).status_code == 403  # the holder's step only
    response = world.call(world.home.applicant, "DELETE", path)

    assert response.status_code == 200, response.json
    assert removed not in {document["id"] for document in response.json["documents"]}
    assert world.call(world.home.applicant, "DELETE", path).status_code in (404, 409, 422)  # not twice
