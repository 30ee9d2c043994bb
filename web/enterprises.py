"""`/api/v1/enterprises`: applicant enterprises, read within one's scope; registered by administrators."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from web import paging
from web.authz import READERS, guard, scope_of
from web.context import container, current_actor
from web.idempotency import idempotent
from web.schemas import EnterpriseIn, EnterpriseOut, EnterprisePage, PageQuery
from workflow.domain.actors import Role
from workflow.domain.errors import ConcurrencyConflict
from workflow.domain.uscc import validate_uscc
from workflow.store import api_reads
from workflow.store.directory import ensure_enterprise, find_enterprise

blueprint = APIBlueprint("enterprises", __name__, url_prefix="/api/v1", tag="Enterprises")


@blueprint.get("/enterprises")
@guard(READERS, write=False)
@blueprint.input(PageQuery, location="query")
@blueprint.output(EnterprisePage)
def list_enterprises(query_data: PageQuery) -> dict[str, Any]:
    """Applicants see their own enterprise; customs users their district's; administrators all."""
    with container().sessions() as session:
        rows = api_reads.enterprises(session, scope_of(current_actor()), query_data.before, query_data.limit + 1)
    return paging.page(rows, query_data.limit)


@blueprint.get("/enterprises/<int:enterprise_id>")
@guard(READERS, write=False)
@blueprint.output(EnterpriseOut)
def show_enterprise(enterprise_id: int) -> dict[str, Any]:
    with container().sessions() as session:
        return api_reads.enterprise(session, enterprise_id)


@blueprint.post("/enterprises")
@guard({Role.ADMIN}, write=True)
@idempotent
@blueprint.input(EnterpriseIn)
@blueprint.output(EnterpriseOut, status_code=201)
def register_enterprise(json_data: EnterpriseIn) -> dict[str, Any]:
    """Register an enterprise; its unified social credit code is checked (GB 32100) and must be new."""
    uscc = validate_uscc(json_data.uscc)
    container().deps.policies.policy_for(json_data.district, container().deps.clock.today())  # a known district
    with container().sessions() as session, session.begin():
        if find_enterprise(session, uscc) is not None:
            raise ConcurrencyConflict(f"an enterprise with code {uscc} is already registered", field="uscc")
        row = ensure_enterprise(
            session,
            name=json_data.name,
            name_en=json_data.name_en,
            uscc=uscc,
            district=json_data.district,
            is_natural_person=json_data.is_natural_person,
            now=container().deps.clock.now(),
        )
        return api_reads.enterprise_view(row)
