"""`/api/v1/audit-events`, `/api/v1/audit/draws`, `/api/v1/draw-keys`: the audit trail and the inspection draws.

The trail and the draw audit are for auditors, heads and administrators; the draw keys' commitments (and the keys
of closed periods) are for every signed-in user, filers included, so anyone can hold the districts to them.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from web import paging
from web.authz import EVERYONE, guard, scope_of
from web.context import container, current_actor
from web.request_reads import request_reads
from web.schemas import AuditPage, AuditQuery, DrawAuditOut, DrawAuditQuery, DrawKeysOut, DrawKeysQuery
from workflow.domain.errors import NotFound
from workflow.domain.permissions import Action
from workflow.store import api_reads
from workflow.store.draw_keys import audit_draws, published_keys
from workflow.store.engine import READ_ONLY

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
    with request_reads() as session:
        rows = api_reads.audit_events(
            session, scope_of(current_actor()), query_data.object_type, query_data.before, query_data.limit + 1
        )
    return paging.page(rows, query_data.limit)


@blueprint.get("/audit/draws")
@guard(Action.READ_AUDIT)
@blueprint.input(DrawAuditQuery, location="query")
@blueprint.output(DrawAuditOut)
def draw_audit(query_data: DrawAuditQuery) -> dict[str, Any]:
    """E2: every inspection draw of a closed period recomputed from its revealed key, and the key's commitment.

    `ok` is false with the findings listed on any mismatch; a period that has not closed is refused (422,
    rule E2): its key is not revealed yet.
    """
    district = scope_of(current_actor()).district
    if district not in (None, query_data.district):
        raise NotFound(f"no district {query_data.district} in your scope")
    with container().engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        today = container().deps.clock.today(query_data.district)
        report = audit_draws(connection, query_data.district, query_data.period, today)
    return report.as_dict()


@blueprint.get("/draw-keys")
@guard(EVERYONE, write=False)
@blueprint.input(DrawKeysQuery, location="query")
@blueprint.output(DrawKeysOut)
def draw_keys(query_data: DrawKeysQuery) -> dict[str, Any]:
    """E2: each district's period commitments, published before the period; a key once its period has closed."""
    with container().engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        items = published_keys(connection, container().deps.clock.today(query_data.district), query_data.district)
    return {"items": items}
