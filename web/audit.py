"""`/api/v1/audit-events`: the district's audit trail for auditors, heads and administrators (read only)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from web import paging
from web.authz import guard, scope_of
from web.context import container, current_actor
from web.schemas import AuditPage, AuditQuery
from workflow.domain.permissions import Action
from workflow.store import api_reads

blueprint = APIBlueprint("audit", __name__, url_prefix="/api/v1", tag="Audit")


@blueprint.get("/audit-events")
@guard(Action.READ_AUDIT)
@blueprint.input(AuditQuery, location="query")
@blueprint.output(AuditPage)
def audit_events(query_data: AuditQuery) -> dict[str, Any]:
    """The caller district's audit events, newest first.

    A district-less administrator sees every district; `object_type` narrows it (application, certificate,
    declaration, or user for the login history).
    """
    with container().sessions() as session:
        rows = api_reads.audit_events(
            session, scope_of(current_actor()), query_data.object_type, query_data.before, query_data.limit + 1
        )
    return paging.page(rows, query_data.limit)
