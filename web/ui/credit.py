"""The enterprise's credit page for officers (R68–R74): the tier in force, a pending change, the history, the forms.

The decider or head of the enterprise's district records a credit change, a reviewer, decider or head a violation
case; the forms post into the same schemas as the API (workflow/service/credit_inputs.py) and ask the same
predicate (`may_record_credit`) before the command, which the handler asks again. A refusal comes back to the form
with the input kept and the reason at its field, nothing written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from pydantic import ValidationError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from web.authz import require_visible
from web.context import container
from web.request_reads import request_reads
from web.ui import field_errors
from web.ui.auth import actor, allow
from web.ui.refusals import RETURNED, explain
from workflow.domain.credit_events import GROUNDS, CreditChangeKind, ViolationKind
from workflow.domain.errors import DomainError, GuardFailed, InvalidInput, PermissionDenied
from workflow.domain.permissions import Action, may_record_credit
from workflow.service.credit_inputs import CreditChangeInput, ViolationCaseInput, parse
from workflow.store import credit_reads
from workflow.store.api_reads import Owner

blueprint = Blueprint("ui_credit", __name__, url_prefix="/ui/credit")
CHANGE_FIELDS = ("kind", "tier", "effective_from", "ground", "case_id", "reason")
CASE_FIELDS = ("case_no", "kind", "decided_on", "summary")
DATES = ("effective_from", "decided_on")
WRITE_A_DATE = _l("Write the date as YYYY-MM-DD.")
REQUIRED = _l("This field is required.")
# The engine's refusals are English; beside a field people read these (rule ids R72–R74, docs/credit.md).
REASONS: Mapping[str, Any] = {
    "effective_from": _l(
        "A credit change takes effect from tomorrow at the earliest, after the last recorded change and at most a "
        "year ahead: decisions already taken keep the tier of their own date."
    ),
    "tier": _l("This tier does not fit this kind of change, or the district's credit regime has no such tier."),
    "ground": _l("This ground is not one for this kind of change."),
    "case_id": _l("Choose one of this enterprise's violation cases, only with the ground “A recorded violation case”."),
    "reason": _l("Say why: the reason is kept in the audit trail."),
    "case_no": _l("This case is already recorded for this enterprise."),
    "decided_on": _l("A case is recorded once decided: its date cannot be in the future."),
}


def with_credit(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each queue row with its enterprise's tier in force today and a pending change (one query for the page)."""
    found = credit_reads.histories(session, [row["enterprise_id"] for row in rows])
    deps = container().deps
    return [
        row | {"credit": credit_reads.summary_today(found[row["enterprise_id"]], row["district"], deps)} for row in rows
    ]


@blueprint.app_context_processor
def _credit_now() -> dict[str, Any]:
    """`credit_now(enterprise_id, district)` for the pages that show an enterprise: its tier today and a pending one."""

    def credit_now(enterprise_id: int, district: str) -> dict[str, Any]:
        with request_reads() as session:
            records = credit_reads.histories(session, [enterprise_id])[enterprise_id]
        return credit_reads.summary_today(records, district, container().deps)

    return {"credit_now": credit_now}


@blueprint.get("/enterprises/<int:enterprise_id>")
@allow(Action.READ_CREDIT)
def enterprise(enterprise_id: int) -> str:
    return _page(enterprise_id, {}, {}, 200)[0]


@blueprint.post("/enterprises/<int:enterprise_id>/changes")
@allow(Action.RECORD_CREDIT_CHANGE)
def record_change(enterprise_id: int) -> Response | tuple[str, int]:
    posted = _posted(CHANGE_FIELDS)
    if posted.get("case_id", "").isdigit():
        posted["case_id"] = int(posted["case_id"])  # type: ignore[assignment]
    errors = _run(Action.RECORD_CREDIT_CHANGE, enterprise_id, CreditChangeInput, posted)
    if errors:
        return _page(enterprise_id, {"change": posted}, {"change": errors}, 422)
    flash(_("The credit change is recorded."), "ok")
    return redirect(url_for("ui_credit.enterprise", enterprise_id=enterprise_id), 303)


@blueprint.post("/enterprises/<int:enterprise_id>/cases")
@allow(Action.RECORD_VIOLATION_CASE)
def record_case(enterprise_id: int) -> Response | tuple[str, int]:
    posted = _posted(CASE_FIELDS)
    errors = _run(Action.RECORD_VIOLATION_CASE, enterprise_id, ViolationCaseInput, posted)
    if errors:
        return _page(enterprise_id, {"case": posted}, {"case": errors}, 422)
    flash(_("The violation case is recorded."), "ok")
    return redirect(url_for("ui_credit.enterprise", enterprise_id=enterprise_id), 303)


def _posted(names: tuple[str, ...]) -> dict[str, Any]:
    """What the form sent, blank optional fields left out (the schema's defaults apply), kept for the re-render."""
    return {name: request.form[name].strip() for name in names if request.form.get(name, "").strip()}


def _run(action: Action, enterprise_id: int, schema: type[Any], posted: dict[str, Any]) -> dict[str, str]:
    """Validate with the shared schema, ask the door's question, run the command; {} or the errors by field."""
    owner = _officer_may(action, enterprise_id)
    try:
        command = parse(schema, posted).command(actor(), owner.enterprise_id or 0)
        container().bus.handle(command)
    except InvalidInput as problem:
        if isinstance(problem.__cause__, ValidationError):
            found = field_errors.at_fields(problem, lambda path: path.split(".")[0])
            return found | {name: str(WRITE_A_DATE) for name in DATES if name in found}
        return _at_field(problem)
    except RETURNED as problem:
        return _at_field(problem)
    return {}


def _at_field(problem: DomainError) -> dict[str, str]:
    field = problem.field or ""
    if field == "case_no" and "already recorded" not in problem.message:
        return {field: str(REQUIRED)}  # the only other refusal of a case number: blank
    if isinstance(problem, InvalidInput | GuardFailed) and field in REASONS:
        return {field: str(REASONS[field])}
    return {"": explain(problem)[0]}


def _officer_may(action: Action, enterprise_id: int) -> Owner:
    """The door's question, the one the API and the handler ask: an officer of this enterprise's own district."""
    owner = require_visible(actor(), "enterprise_id", enterprise_id)
    if not may_record_credit(actor(), action, owner):
        raise PermissionDenied(_("Only the officers of the enterprise's own district may record its credit events."))
    return owner


def _page(
    enterprise_id: int, kept: dict[str, dict[str, Any]], errors: dict[str, dict[str, str]], status: int
) -> tuple[str, int]:
    owner = require_visible(actor(), "enterprise_id", enterprise_id)
    deps = container().deps
    with request_reads() as session:
        view = credit_reads.view_today(session, enterprise_id, owner.district, deps)
        name = credit_reads.enterprise_name(session, enterprise_id)
    today = deps.clock.today(owner.district)
    page = render_template(
        "ui/credit/enterprise.html",
        credit=view,
        enterprise_name=name,
        enterprise_id=enterprise_id,
        kept=kept,
        errors=errors,
        form=CsrfOnly(formdata=None),
        may_change=may_record_credit(actor(), Action.RECORD_CREDIT_CHANGE, owner),
        may_case=may_record_credit(actor(), Action.RECORD_VIOLATION_CASE, owner),
        kinds=[kind.value for kind in CreditChangeKind],
        tiers=sorted(tier.value for tier in deps.policies.policy_for(owner.district, today).credit.tiers),
        grounds=sorted({ground.value for grounds in GROUNDS.values() for ground in grounds}),
        violations=[kind.value for kind in ViolationKind],
    )
    return page, status


class CsrfOnly(FlaskForm):
    """No fields of its own: the credit forms' fields are the shared schema's, this carries the CSRF token."""
