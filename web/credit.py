"""`/api/v1/enterprises/{id}/credit`: an enterprise's credit (R68–R74) read, and its credit events recorded.

The decider or the head of the enterprise's own district records a credit change; a reviewer, decider or head a
violation case (R74). The door asks `may_record_credit` before it builds the command, the handler asks again inside
the transaction; the bodies are the same schemas the officer's form and the CLI use (workflow/service/credit_inputs).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from apiflask import APIBlueprint

from web.authz import guard, require_visible
from web.context import container, current_actor
from web.idempotency import idempotent
from web.request_reads import request_reads
from web.schemas import Out
from workflow.domain.errors import PermissionDenied
from workflow.domain.permissions import Action, may_record_credit
from workflow.service.credit_inputs import CreditChangeInput, ViolationCaseInput
from workflow.store import credit_reads
from workflow.store.api_reads import Owner

blueprint = APIBlueprint("credit", __name__, url_prefix="/api/v1", tag="Credit")


class CreditRecordOut(Out):
    tier: str
    regime: str
    effective_from: date
    effective_to: date | None


class CreditChangeOut(Out):
    id: int
    kind: str
    from_tier: str
    to_tier: str
    regime: str
    effective_from: date
    ground: str
    case_id: int | None
    reason: str
    recorded_by: str


class ViolationCaseOut(Out):
    id: int
    case_no: str
    kind: str
    decided_on: date
    summary: str


class CreditOut(Out):
    """The tier in force today (R73) and the change recorded to take effect later, if any."""

    enterprise_id: int
    tier: str
    regime: str
    rated: bool
    since: date | None
    until: date | None
    pending_tier: str | None
    pending_from: date | None
    records: list[CreditRecordOut]
    changes: list[CreditChangeOut]
    cases: list[ViolationCaseOut]


@blueprint.get("/enterprises/<int:enterprise_id>/credit")
@guard(Action.READ_CREDIT)
@blueprint.output(CreditOut)
def show_credit(enterprise_id: int) -> dict[str, Any]:
    """The tier in force today, a pending change, the dated records, the changes and the violation cases."""
    return _view(require_visible(current_actor(), "enterprise_id", enterprise_id))


@blueprint.post("/enterprises/<int:enterprise_id>/credit-changes")
@guard(Action.RECORD_CREDIT_CHANGE)
@idempotent
@blueprint.input(CreditChangeInput)
@blueprint.output(CreditOut, status_code=201)
def record_credit_change(enterprise_id: int, json_data: CreditChangeInput) -> dict[str, Any]:
    """Downgrade, discredit, restore or certify from `effective_from` (tomorrow at the earliest, R73), with a ground."""
    return _record(Action.RECORD_CREDIT_CHANGE, enterprise_id, json_data)


@blueprint.post("/enterprises/<int:enterprise_id>/violation-cases")
@guard(Action.RECORD_VIOLATION_CASE)
@idempotent
@blueprint.input(ViolationCaseInput)
@blueprint.output(CreditOut, status_code=201)
def record_violation_case(enterprise_id: int, json_data: ViolationCaseInput) -> dict[str, Any]:
    """R74: a violation case's reference (no fine); it restarts the restoration period (R69)."""
    return _record(Action.RECORD_VIOLATION_CASE, enterprise_id, json_data)


def _record(action: Action, enterprise_id: int, body: CreditChangeInput | ViolationCaseInput) -> dict[str, Any]:
    """The door's question (an officer of this enterprise's own district, in a role for the action), then the bus."""
    owner = require_visible(current_actor(), "enterprise_id", enterprise_id)
    if not may_record_credit(current_actor(), action, owner):
        raise PermissionDenied(f"{action.value} is for the officers of district {owner.district}", "R72")
    container().bus.handle(body.command(current_actor(), enterprise_id))
    return _view(owner)


def _view(owner: Owner) -> dict[str, Any]:
    with request_reads() as session:
        view = credit_reads.view_today(session, owner.enterprise_id or 0, owner.district, container().deps)
    pending = view.pop("pending")
    records = [{**r, "effective_from": r["from"], "effective_to": r["to"]} for r in view.pop("records")]
    return {
        **view,
        "records": records,
        "pending_tier": pending["tier"] if pending else None,
        "pending_from": pending["from"] if pending else None,
    }
