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
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from web.context import container
from web.request_reads import request_reads
from web.ui.auth import actor, allow, allow_each
from web.ui.forms import DeclareForm, DeclareLineForm, InspectionForm, ReversalForm, options, posted_reason, query_int
from web.ui.i18n import REVERSAL_REASONS
from web.ui.objects import declaration_page, require_visible
from web.ui.refusals import Refusal, back_to_the_form, back_to_the_page, show_at_field
from workflow.domain import commands as c
from workflow.domain import inputs
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
    with request_reads() as session:
        matches = ui_queries.declarations_by_no(session, number, actor().district) if number else []
        waiting = ui_queries.open_declarations(session, actor().district)
    found = _lookup(number, matches) if number else None
    if found is not None:
        return found
    status = 404 if number and not matches else 200
    return render_template(
        "ui/port/desk.html", waiting=waiting, number=number, missing=status == 404, matches=matches, **_active()
    ), status


def _active() -> dict[str, Any]:
    """A page of the district's active certificates, searched by certificate number or enterprise (`q`)."""
    search = request.args.get("q", "").strip()[: inputs.NAME]
    with request_reads() as session:
        rows = ui_queries.active_certificates(
            session, actor().district, search, query_int("before", inputs.BIGINT_MAX), CERTIFICATES_PAGE + 1
        )
    more = len(rows) > CERTIFICATES_PAGE
    return {
        "active": rows[:CERTIFICATES_PAGE],
        "q": search,
        "next_before": rows[CERTIFICATES_PAGE - 1]["id"] if more else None,
    }


def _lookup(number: str, matches: list[dict[str, Any]]) -> Response | None:
    """A certificate number opens the declaring desk; a declaration number opens its declaration.

    Several enterprises of the district may use one number: then the desk lists them instead.
    """
    with request_reads() as session:
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


def _certificate_page(
    certificate_id: int,
    form: DeclareForm,
    reversal: ReversalForm,
    refusal: Refusal | None = None,
    more: list[DeclareLineForm] | None = None,
) -> str:
    """The declaring desk; after a refused form, the same page with the input kept and the reason at the field.

    A refused form wrote nothing, so its one-time key is offered again. `more`: the form's further lines.
    """
    more = _more_lines() if more is None else more
    with request_reads() as session:
        cert = api_reads.certificate(session, certificate_id)
        history = ui_queries.ledger_history(session, ui_queries.LedgerFilter(certificate_id=certificate_id), None, 20)
        ports = ui_queries.application_ports(session, cert["application_id"])
    key = request.form.get("idempotency_key") or secrets.token_urlsafe(16)
    return render_template(
        "ui/port/certificate.html",
        cert=cert,
        history=history,
        form=form,
        more=more,
        ports=ports,
        key=key,
        reversal=reversal,
        refusal=refusal,
        declare_fields=DECLARE_FIELDS + tuple(f.name for line in more for f in (line.line_no, line.qty)),
    )


DECLARE_FIELDS = ("declaration_no", "line_no", "qty", "port")
CERTIFICATES_PAGE = 25  # active certificates per page of the desk
MAX_DECLARE_LINES = 50  # lines of one declaration on the form; each draws on a different certificate line (W2)


def _refused_declaration(certificate_id: int, refusal: Refusal) -> str:
    """The declaring form as posted, the refusal at the field it names.

    `lines.0.qty` is the first line's quantity, `lines.2.qty` the third line's (`line3-qty`).
    """
    form, more = DeclareForm(), _more_lines()  # filled from the posted form: each field shows what was typed
    parts = (refusal.field or "").split(".")
    if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and 0 < int(parts[1]) <= len(more):
        line = more[int(parts[1]) - 1]
        show_at_field(line, Refusal(refusal.action, refusal.message, parts[2]))
        placed = getattr(line, parts[2], None)
        refusal = Refusal(
            refusal.action, refusal.message, placed.name if placed else None, refusal.rule_id, refusal.detail
        )
    else:
        named = parts[-1]
        show_at_field(form, Refusal(refusal.action, refusal.message, named if named in DECLARE_FIELDS else None))
    return _certificate_page(certificate_id, form, _reversal_form(), refusal, more)


def _more_lines(removed: int | None = None, added: bool = False) -> list[DeclareLineForm]:
    """The declaring form's lines after the first, as posted (`line_count` of them in all), one removed or added.

    Removing line k moves the lines after it up one place, so each field keeps what was typed in it.
    """
    posted = request.form.get("line_count", type=int) or 1
    count = max(1, min(posted, MAX_DECLARE_LINES))
    numbers = [k for k in range(2, count + 1) if k != removed] + (
        [count + 1] if added and count < MAX_DECLARE_LINES else []
    )
    moved = MultiDict(
        (f"line{place}-{name}", request.form.get(f"line{k}-{name}", ""))
        for place, k in enumerate(numbers, start=2)
        for name in ("line_no", "qty")
        if f"line{k}-{name}" in request.form
    )
    return [DeclareLineForm(moved, prefix=f"line{place}") for place in range(2, len(numbers) + 2)]


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
    with request_reads() as session:
        cert = api_reads.certificate(session, certificate_id)
    return render_template("ui/port/_remaining.html", cert=cert)


@blueprint.post("/certificates/<int:certificate_id>/declare")
@allow(Action.DECLARE)
@back_to_the_page(lambda certificate_id, refusal: _refused_declaration(certificate_id, refusal), lambda **_: "declare")
def declare(certificate_id: int) -> Response | tuple[str, int]:
    """D1–D3: check, route and reserve; released goods are written off at once (D6)."""
    require_visible("certificate_id", certificate_id)
    form = DeclareForm()
    if request.form.get("add_line") or request.form.get("remove_line"):  # the form changes shape; nothing is filed
        more = _more_lines(request.form.get("remove_line", type=int), added=bool(request.form.get("add_line")))
        return _certificate_page(certificate_id, form, _reversal_form(), more=more), 200
    more = _more_lines()
    if _field_errors(form) | (not all([line.validate() for line in more])):  # every line's errors, not the first's
        return _certificate_page(certificate_id, form, _reversal_form(), more=more), 422
    with request_reads() as session:
        cert = api_reads.certificate(session, certificate_id)
    if not _lines_of_the_certificate(form, more, {line["line_no"] for line in cert["lines"]}):
        return _certificate_page(certificate_id, form, _reversal_form(), more=more), 422
    lines = ((form.line_no.data, form.qty.data), *((line.line_no.data, line.qty.data) for line in more))
    command = c.DeclareShipment(
        actor(),
        (form.declaration_no.data or "").strip(),
        cert["certificate_no"],
        container().deps.clock.today(cert["district"]),
        Direction(cert["direction"]),
        tuple((int(line_no or 0), Decimal(qty or 0)) for line_no, qty in lines),
        port=form.port.data or "",
        idempotency_key=_key(),
    )
    result = container().bus.handle(command)
    flash(_("Declared."))
    return redirect(url_for("ui_objects.declaration", declaration_id=result["declaration_id"]), 303)


def _lines_of_the_certificate(form: DeclareForm, more: list[DeclareLineForm], numbers: set[int]) -> bool:
    """Each line names a line of this certificate (the form offers only those); a forged one is refused at it."""
    fields = [form.line_no, *(line.line_no for line in more)]
    for field in fields:
        if field.data not in numbers:
            field.errors = [_("Choose a line of this certificate.")]
    return all(field.data in numbers for field in fields)


def _key() -> str:
    """The form's one-time key, scoped to the user so two officers' keys never meet."""
    key = request.form.get("idempotency_key", "")
    return f"ui:{actor().user_id}:{key}"[:120] if key else ""


@blueprint.post("/declarations/<int:declaration_id>/inspection")
@allow(Action.RECORD_INSPECTION)  # a lab result too: the same roles (permissions.RECORD_LAB_RESULT)
@back_to_the_page(declaration_page, lambda **_: "inspection")
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
@back_to_the_form(lambda declaration_id, refusal: declaration_page(declaration_id, refusal), "step")
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
    with request_reads() as session:
        return str(api_reads.declaration(session, declaration_id)["state"])


def _back(declaration_id: int) -> Response:
    return redirect(url_for("ui_objects.declaration", declaration_id=declaration_id), 303)


# -- reversals (W10) ------------------------------------------------------------------------------------------------


def _reversal_form() -> ReversalForm:
    form = ReversalForm()
    form.reason_code.choices = options((reason.value, REVERSAL_REASONS[reason.value]) for reason in ReversalReason)
    return form


def _refused_reversal(entry_id: int, refusal: Refusal) -> str:
    """The certificate's desk, the declaring form empty and this write-off's reversal form as posted."""
    with request_reads() as session:
        certificate_id = ui_queries.certificate_of_entry(session, entry_id) or 0
    return _certificate_page(certificate_id, DeclareForm(formdata=None), _reversal_form(), refusal)


@blueprint.post("/write-offs/<int:entry_id>/reversal")
@allow(Action.REQUEST_REVERSAL)
@back_to_the_page(_refused_reversal, lambda entry_id: f"reversal-{entry_id}")
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
    return _reversals_page()


def _reversals_page(refusal: Refusal | None = None, **_route: int) -> str:
    with request_reads() as session:
        pending = ui_queries.pending_reversals(session, actor().district)
    return render_template("ui/port/reversals.html", pending=pending, refusal=refusal)


@blueprint.post("/reversals/<int:reversal_id>")
@allow(Action.DECIDE_REVERSAL)
@back_to_the_page(_reversals_page, lambda reversal_id: f"reversal-{reversal_id}")
def decide_reversal(reversal_id: int) -> Response:
    """A decider other than the requester approves or refuses (the engine enforces both)."""
    require_visible("reversal_id", reversal_id)
    approve = request.form.get("decision") == "approve"
    container().bus.handle(c.DecideReversal(actor(), reversal_id, approve, _reason()))
    flash(_("Reversal approved.") if approve else _("Reversal refused."))
    return redirect(url_for("ui_port.reversals"), 303)
