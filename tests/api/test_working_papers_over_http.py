"""The reviewer's opinion (A6) is customs' working paper: in the trail customs reads, not in the applicant's."""

from __future__ import annotations

from tests.api.conftest import World
from tests.api.test_grant_guards_over_http import under_review
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
