"""The port desk: look up, declare and write off against the live remaining quantity, port outcomes, reversals.

Inspection and laboratory outcomes, disposal and follow-up are recorded here; reversals (W10) are requested by a
port officer and approved by a decider.

A declaration form carries a one-time idempotency key, so a double click or a resent form writes off once.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from web.context import container
from web.ui.auth import actor, allow, allow_each
from web.ui.forms import DeclareForm, InspectionForm, ReversalForm, options, posted_reason
from web.ui.i18n import REVERSAL_REASONS
from web.ui.objects import require_visible
from workflow.domain import commands as c
from workflow.domain.actors import Role
from workflow.domain.errors import InvalidInput, NotFound
from workflow.domain.goods import Direction
from workflow.domain.ledger import Disposal, ReversalReason
from workflow.domain.permissions import Action
from workflow.store import api_reads, ui_queries

blueprint = Blueprint("ui_port", __name__, url_prefix="/ui/port")
PORT = (Role.PORT_OFFICER, Role.DEST_OFFICER)
STEPS = {  # each port step is an action of the permission table, allowed to whom the API allows it
    "split": Action.RESOLVE_HOLD,
    "reject": Action.RESOLVE_HOLD,
    "dispose": Action.COMPLETE_DISPOSAL,
    "withdraw": Action.WITHDRAW_DECLARATION,
    "follow-up": Action.REPORT_FOLLOW_UP,
}


@blueprint.get("/")
@allow(PORT)
def desk() -> Response | tuple[str, int]:
    number = request.args.get("number", "").strip()
    with container().sessions() as session:
        matches = ui_queries.declarations_by_no(session, number, actor().district) if number else []
        waiting = ui_queries.open_declarations(session, actor().district)
    found = _lookup(number, matches) if number else None
    if found is not None:
        return found
    status = 404 if number and not matches else 200
    return render_template(
        "ui/port/desk.html", waiting=waiting, number=number, missing=status == 404, matches=matches
    ), status


def _lookup(number: str, matches: list[dict[str, Any]]) -> Response | None:
    """A certificate number opens the declaring desk; a declaration number opens its declaration.

    Several enterprises of the district may use one number: then the desk lists them instead.
    """
    with container().sessions() as session:
        certificate_id = ui_queries.certificate_id_by_no(session, number)
    declaration_id = matches[0]["id"] if not certificate_id and len(matches) == 1 else None
    for kind, found, endpoint in (
        ("certificate_id", certificate_id, "ui_port.certificate"),
        ("declaration_id", declaration_id, "ui_objects.declaration"),
    ):
        if found is not None:
            require_visible(kind, found)
            return redirect(url_for(endpoint, **{kind: found}), 303)
    return None


def _declare_form() -> DeclareForm:
    form = DeclareForm()
    if request.method == "GET":
        form.declaration_no.data = ""
    return form


@blueprint.get("/certificates/<int:certificate_id>")
@allow(PORT)
def certificate(certificate_id: int) -> str:
    require_visible("certificate_id", certificate_id)
    return _certificate_page(certificate_id, _declare_form(), _reversal_form())


def _certificate_page(certificate_id: int, form: DeclareForm, reversal: ReversalForm) -> str:
    """The declaring desk; after a refused form, the same page with the input kept and the reason at the field.

    A refused form wrote nothing, so its one-time key is offered again.
    """
    with container().sessions() as session:
        cert = api_reads.certificate(session, certificate_id)
        history = ui_queries.ledger_history(session, ui_queries.LedgerFilter(certificate_id=certificate_id), None, 20)
    key = request.form.get("idempotency_key") or secrets.token_urlsafe(16)
    return render_template(
        "ui/port/certificate.html", cert=cert, history=history, form=form, key=key, reversal=reversal
    )


def _field_errors(form: FlaskForm) -> bool:
    """Whether the form was refused for its fields (shown at them); a stale or forged form is an error page."""
    if form.validate_on_submit():
        return False
    if "csrf_token" in form.errors or not form.is_submitted():
        raise InvalidInput(_("The form expired or did not come from this site. Reload the page and try again."))
    return True


@blueprint.get("/certificates/<int:certificate_id>/remaining")
@allow(PORT)
def remaining(certificate_id: int) -> str:
    """The live remaining quantity per line (htmx refreshes it while the officer fills in the form)."""
    require_visible("certificate_id", certificate_id)
    with container().sessions() as session:
        cert = api_reads.certificate(session, certificate_id)
    return render_template("ui/port/_remaining.html", cert=cert)


@blueprint.post("/certificates/<int:certificate_id>/declare")
@allow(Action.DECLARE)
def declare(certificate_id: int) -> Response | tuple[str, int]:
    """D1–D3: check, route and reserve; released goods are written off at once (D6)."""
    require_visible("certificate_id", certificate_id)
    form = DeclareForm()
    if _field_errors(form):
        return _certificate_page(certificate_id, form, _reversal_form()), 422
    with container().sessions() as session:
        cert = api_reads.certificate(session, certificate_id)
    if form.line_no.data not in {line["line_no"] for line in cert["lines"]}:
        raise InvalidInput(_("Choose a line of this certificate."), field="line_no")  # the form offers only those
    command = c.DeclareShipment(
        actor(),
        (form.declaration_no.data or "").strip(),
        cert["certificate_no"],
        container().deps.clock.today(),
        Direction(cert["direction"]),
        ((int(form.line_no.data or 0), Decimal(form.qty.data or 0)),),
        port=form.port.data or "",
        idempotency_key=_key(),
    )
    result = container().bus.handle(command)
    flash(_("Declared."))
    return redirect(url_for("ui_objects.declaration", declaration_id=result["declaration_id"]), 303)


def _key() -> str:
    """The form's one-time key, scoped to the user so two officers' keys never meet."""
    key = request.form.get("idempotency_key", "")
    return f"ui:{actor().user_id}:{key}"[:120] if key else ""


@blueprint.post("/declarations/<int:declaration_id>/inspection")
@allow(Action.RECORD_INSPECTION)  # a lab result too: the same roles (permissions.RECORD_LAB_RESULT)
def inspection(declaration_id: int) -> Response:
    require_visible("declaration_id", declaration_id)
    form = InspectionForm()
    if _field_errors(form):
        field, errors = next(iter(form.errors.items()))
        raise InvalidInput(str(errors[0]), field=field)
    disposal = Disposal(form.disposal.data) if form.disposal.data else None
    state = _state(declaration_id)
    if state == "lab_hold":
        command: c.Command = c.RecordLabResult(
            actor(), declaration_id, form.reason.data or "", passed=form.outcome.data == "pass", disposal=disposal
        )
    else:
        command = c.RecordInspection(
            actor(), declaration_id, form.reason.data or "", outcome=form.outcome.data, disposal=disposal
        )
    container().bus.handle(command)
    flash(_("Outcome recorded."))
    return _back(declaration_id)


@blueprint.post("/declarations/<int:declaration_id>/<step>")
@allow_each("step", STEPS)
def step(declaration_id: int, step: str) -> Response:
    """The other port steps: resolve a hold (split or reject), close a disposal, withdraw, report the follow-up."""
    require_visible("declaration_id", declaration_id)
    reason = _reason()
    me = actor()
    chosen = request.form.get("disposal") or Disposal.RETURN.value
    if chosen not in {item.value for item in Disposal}:
        raise InvalidInput(_("Choose return or destruction."), field="disposal")
    disposal = Disposal(chosen)
    commands = {
        "split": lambda: c.ResolveHold(me, declaration_id, reason, split=True, disposal=disposal),
        "reject": lambda: c.ResolveHold(me, declaration_id, reason, split=False),
        "dispose": lambda: c.CompleteDisposal(me, declaration_id, reason),
        "withdraw": lambda: c.WithdrawDeclaration(me, declaration_id, reason),
        "follow-up": lambda: c.ReportFollowUp(
            me,
            declaration_id,
            reason,
            lab_matches=request.form.get("lab_matches") == "y",
            goods_match=request.form.get("goods_match") == "y",
        ),
    }
    if step not in commands:
        raise NotFound(_("Not found."))
    container().bus.handle(commands[step]())
    flash(_("Done."))
    return _back(declaration_id)


def _reason() -> str:
    return posted_reason(request.form.get("reason", ""))


def _state(declaration_id: int) -> str:
    with container().sessions() as session:
        return str(api_reads.declaration(session, declaration_id)["state"])


def _back(declaration_id: int) -> Response:
    return redirect(url_for("ui_objects.declaration", declaration_id=declaration_id), 303)


# -- reversals (W10) ------------------------------------------------------------------------------------------------


def _reversal_form() -> ReversalForm:
    form = ReversalForm()
    form.reason_code.choices = options((reason.value, REVERSAL_REASONS[reason.value]) for reason in ReversalReason)
    return form


@blueprint.post("/write-offs/<int:entry_id>/reversal")
@allow(Action.REQUEST_REVERSAL)
def request_reversal(entry_id: int) -> Response:
    require_visible("entry_id", entry_id)
    form = _reversal_form()
    if _field_errors(form):
        field, errors = next(iter(form.errors.items()))
        raise InvalidInput(str(errors[0]), field=field)  # one form per write-off on the page: name the field
    command = c.RequestReversal(
        actor(), entry_id, Decimal(form.qty.data or 0), ReversalReason(form.reason_code.data), form.reason.data or ""
    )
    container().bus.handle(command)
    flash(_("Reversal requested; a decider approves it."))
    return redirect(url_for("ui_port.reversals"), 303)


@blueprint.get("/reversals")
@allow((Role.PORT_OFFICER, Role.DECIDER))
def reversals() -> str:
    with container().sessions() as session:
        pending = ui_queries.pending_reversals(session, actor().district)
    return render_template("ui/port/reversals.html", pending=pending)


@blueprint.post("/reversals/<int:reversal_id>")
@allow(Action.DECIDE_REVERSAL)
def decide_reversal(reversal_id: int) -> Response:
    """A decider other than the requester approves or refuses (the engine enforces both)."""
    require_visible("reversal_id", reversal_id)
    approve = request.form.get("decision") == "approve"
    container().bus.handle(c.DecideReversal(actor(), reversal_id, approve, _reason()))
    flash(_("Reversal approved.") if approve else _("Reversal refused."))
    return redirect(url_for("ui_port.reversals"), 303)
