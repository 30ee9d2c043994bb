"""`/api/v1/precheck`: the applicant's pre-check (workflow/service/precheck.py) over HTTP; it changes nothing."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from web.authz import EVERYONE, guard
from web.context import container, current_actor
from web.idempotency import idempotent
from web.schemas import PrecheckOut
from workflow.domain.actors import Role
from workflow.service.lab_checks import LabsKnown
from workflow.service.precheck import PrecheckInput, run_precheck

blueprint = APIBlueprint("precheck", __name__, url_prefix="/api/v1", tag="Pre-check")


@blueprint.post("/precheck")
@guard(EVERYONE, write=False)
@idempotent
@blueprint.input(PrecheckInput)
@blueprint.output(PrecheckOut)
def precheck(json_data: PrecheckInput) -> dict[str, Any]:
    """What the rules would decide for these goods: scope, grade, validity, write-off mode, paperless, documents.

    The district defaults to the caller's (or the deployment's), the date to today.
    """
    deps = container().deps
    district = json_data.district or current_actor().district or container().settings.district
    policy = deps.policies.policy_for(district, json_data.date or deps.clock.today(district))
    actor, on = current_actor(), json_data.date or deps.clock.today(district)
    if actor.role is not Role.APPLICANT or actor.enterprise_id is None:
        return run_precheck(json_data, policy)
    with deps.uow().reading() as uow:  # R9(b)/R62: an applicant's lines are judged against its own registered labs
        labs = LabsKnown(uow.laboratories.of_enterprise(actor.enterprise_id), actor.enterprise_id, on)
    return run_precheck(json_data, policy, labs=labs)
