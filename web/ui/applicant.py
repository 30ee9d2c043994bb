"""The applicant's pages: own applications, the guided new-application form, the pre-check, certificates, profile.

Everything writes through the message bus with the signed-in applicant as the actor, so the engine's own checks
(own enterprise only, R10, R11, the lifecycle) apply to the pages exactly as to the API.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from web.context import container
from web.request_reads import request_reads
from web.ui import goods
from web.ui.auth import actor, allow
from web.ui.forms import ApplicationForm, GoodsForm, UsccForm, fields_checked_by_the_form, options, query_int
from web.ui.i18n import district, districts
from web.ui.objects import require_visible
from web.ui.refusals import RETURNED, Refusal, refusal_of
from workflow.domain import commands as c
from workflow.domain.actors import Role
from workflow.domain.credit import credit_as_of
from workflow.domain.errors import InvalidInput
from workflow.domain.goods import Direction
from workflow.domain.model import Application, checked_ports
from workflow.domain.permissions import Action
from workflow.domain.uscc import validate_uscc
from workflow.service.lab_checks import LabsKnown
from workflow.service.precheck import parse_precheck_input, run_precheck
from workflow.store import api_reads, journey_reads, ui_queries
from workflow.store.api_reads import BIGINT_MAX, Scope

blueprint = Blueprint("ui_applicant", __name__, url_prefix="/ui/applicant")
APPLICANT = (Role.APPLICANT,)
PAGE = 25


def _enterprise_id() -> int:
    return actor().enterprise_id or -1  # an applicant user without an enterprise sees nothing, not everything


@blueprint.get("/applications")
@allow(APPLICANT)
def applications() -> str:
    before = query_int("before")
    with request_reads() as session:
        rows = api_reads.applications(session, Scope(enterprise_id=_enterprise_id()), None, before, PAGE + 1)
    return render_template("ui/applicant/applications.html", rows=rows[:PAGE], next_before=_next(rows))


def _next(rows: list[dict[str, Any]]) -> int | None:
    return rows[PAGE - 1]["id"] if len(rows) > PAGE else None


def _goods_form(kind: type[GoodsForm] = GoodsForm) -> GoodsForm:
    form = kind()
    form.district.choices = options(districts())
    if request.method == "GET":
        form.district.data = actor().district or container().settings.district
    return form


@blueprint.route("/applications/new", methods=["GET", "POST"])
@allow(Action.CREATE_APPLICATION)
@fields_checked_by_the_form
def new_application() -> Response | tuple[str, int]:
    """Direction, district and goods lines make the draft; documents and submission follow on its page."""
    form = _goods_form(ApplicationForm)
    assert isinstance(form, ApplicationForm)
    entered, refusal = goods.LinesInput([goods.blank_line()]), None
    if request.method == "POST":
        entered = _entered()
        valid = form.validate()  # first: validating clears every field's errors, the ports' too
        ports = _ports(form)
        if entered.lines and valid and ports is not None:
            direction = Direction(form.direction.data)
            command = c.CreateApplication(
                actor(), _enterprise_id(), form.district.data, direction, entered.lines, ports
            )
            try:
                application_id = container().bus.handle(command)
                return redirect(url_for("ui_objects.application", application_id=application_id), 303)
            except RETURNED as error:  # a rule of the engine: the form again, the message where it belongs
                refusal = _placed(refusal_of("create", error), form, entered)
    status = 422 if entered.errors or form.errors or form.ports.errors or refusal else 200
    page = render_template("ui/applicant/new.html", form=form, entered=entered, goods=goods, refusal=refusal)
    return page, status


def _placed(refusal: Refusal, form: GoodsForm, entered: goods.LinesInput) -> Refusal | None:
    """The refusal at the field it names (a goods line's, or the form's own); None once placed, else for the top."""
    named = goods.field_of(refusal.field)
    if named is not None:
        entered.errors[named] = refusal.message
        return None
    field = form._fields.get(refusal.field or "")
    if field is not None and refusal.field != "csrf_token":
        field.errors = [*field.errors, refusal.message]
        return None
    return refusal


@blueprint.route("/applications/<int:application_id>/edit", methods=["GET", "POST"])
@allow(Action.REVISE_APPLICATION)
@fields_checked_by_the_form
def edit_application(application_id: int) -> Response | tuple[str, int]:
    """The goods and ports of a draft, or of a file sent back for correction (R13); the district stays the file's."""
    require_visible("application_id", application_id)
    with container().deps.uow().reading() as uow:
        found = uow.applications.get(application_id)
    found.require_editable_by(actor())  # a file the applicant no longer holds is not offered for editing
    form, refusal = _edit_form(found), None
    entered = goods.LinesInput([goods.line_values(line) for line in found.lines])
    if request.method == "POST":
        entered = _entered()
        valid = form.validate()
        ports = _ports(form)
        if entered.lines and valid and ports is not None:
            lines = goods.keep_unshown(found.lines, entered.lines)
            direction = Direction(form.direction.data)
            command = c.ReviseDraft(actor(), application_id, direction, lines, _posted_version(), ports)
            try:
                container().bus.handle(command)
                flash(_("Goods saved."))
                return redirect(url_for("ui_objects.application", application_id=application_id), 303)
            except RETURNED as error:  # a conflicting edit or a rule: the form again, what was typed kept
                refusal = _placed(refusal_of("revise", error), form, entered)
    status = 422 if entered.errors or form.errors or form.ports.errors or refusal else 200
    page = render_template(
        "ui/applicant/edit.html", form=form, entered=entered, goods=goods, app=found, refusal=refusal
    )
    return page, status


def _posted_version() -> int | None:
    """The version the applicant edited: an edit of a file changed meanwhile is a conflict, not an overwrite."""
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() else None


def _edit_form(found: Application) -> ApplicationForm:
    form = ApplicationForm()
    form.district.choices = [(found.district, district(found.district))]
    if request.method == "GET":
        form.direction.data, form.district.data = found.direction.value, found.district
        form.ports.data = ", ".join(found.ports)
    return form


def _ports(form: ApplicationForm) -> tuple[str, ...] | None:
    """The ports, checked by the domain's rule; a problem is shown beside the field instead of a page error."""
    try:
        return checked_ports(form.port_list())
    except InvalidInput as error:
        form.ports.errors = [*form.ports.errors, error.message]
        return None


@blueprint.get("/lines/<int:index>")
@allow(APPLICANT)
def line_fragment(index: int) -> str:
    """One more empty goods line for the form (htmx)."""
    index = min(index, goods.MAX_LINES - 1)
    line = render_template("ui/applicant/_line.html", index=index, line=goods.blank_line(), errors={}, goods=goods)
    counter = render_template("ui/applicant/_add_line.html", count=index + 1, oob=True, goods=goods)
    return line + counter


def _entered() -> goods.LinesInput:
    """The posted lines; "add a goods line" without script posts the form and gets it back one line longer."""
    if request.form.get("add_line"):
        return goods.LinesInput([*goods.read_lines(request.form, validate=False).values, goods.blank_line()])
    return goods.read_lines(request.form)


@blueprint.route("/precheck", methods=["GET", "POST"])
@allow(APPLICANT)
@fields_checked_by_the_form
def precheck() -> tuple[str, int]:
    """What the rules would decide for these goods, line by line and overall, with rule ids and reasons."""
    form = _goods_form()
    entered, report, refusal = goods.LinesInput([goods.blank_line()]), None, None
    if request.method == "POST":
        entered = _entered()
        if entered.lines and form.validate():
            try:
                report = _run_precheck(form, entered)
            except RETURNED as error:
                refusal = _placed(refusal_of("precheck", error), form, entered)
    status = 422 if entered.errors or form.errors or refusal else 200
    page = render_template(
        "ui/applicant/precheck.html", form=form, entered=entered, goods=goods, report=report, refusal=refusal
    )
    return page, status


def _run_precheck(form: GoodsForm, entered: goods.LinesInput) -> dict[str, Any]:
    deps = container().deps
    today = deps.clock.today(form.district.data)
    policy = deps.policies.policy_for(form.district.data, today)
    raw = {
        "direction": form.direction.data,
        "district": form.district.data,
        "lines": [asdict(line) for line in entered.lines],
    }
    with deps.uow().reading() as uow:
        credit = credit_as_of(uow.enterprises.credit_records(_enterprise_id()), today, policy)
        checked = parse_precheck_input(raw | {"applicant": {"credit_tier": credit.tier.value}})
        prior = uow.enterprises.granted_among(_enterprise_id(), (line.identity for line in checked.goods_lines()))
        holds_grant = bool(prior) or uow.enterprises.has_grant(_enterprise_id())  # R15: any grant, not only these
        labs = LabsKnown(uow.laboratories.of_enterprise(_enterprise_id()), _enterprise_id(), today)  # R9(b), R62
    return run_precheck(checked, policy, prior, holds_grant, labs)


@blueprint.get("/certificates")
@allow(APPLICANT)
def certificates() -> str:
    before = query_int("before")
    with request_reads() as session:
        rows = ui_queries.certificates_with_lines(session, _enterprise_id(), before, PAGE + 1)
    return render_template("ui/applicant/certificates.html", rows=rows[:PAGE], next_before=_next(rows))


@blueprint.get("/declarations")
@allow(APPLICANT)
def declarations() -> str:
    """The enterprise's declarations: where each shipment stands, the certificate it cites, its lines drawn."""
    before = query_int("before", BIGINT_MAX)
    with request_reads() as session:
        rows = journey_reads.enterprise_declarations(session, _enterprise_id(), before, PAGE + 1)
    return render_template("ui/applicant/declarations.html", rows=rows[:PAGE], next_before=_next(rows))


@blueprint.route("/enterprise", methods=["GET", "POST"])
@allow(APPLICANT)
@fields_checked_by_the_form
def profile() -> tuple[str, int]:
    """The enterprise's record, credit history and approvals; the code checker validates a USCC with its check digit."""
    form, checked = UsccForm(), None
    if form.validate_on_submit():
        checked = _check_uscc(form)
    with request_reads() as session:
        enterprise = ui_queries.enterprise_profile(session, _enterprise_id())
    status = 422 if form.errors else 200
    return render_template("ui/applicant/profile.html", enterprise=enterprise, form=form, checked=checked), status


def _check_uscc(form: UsccForm) -> str | None:
    try:
        return validate_uscc(form.uscc.data or "")
    except InvalidInput as problem:  # shown beside the field; the reason names the failing part of the code
        form.uscc.errors = [_("Not a valid unified social credit code:") + " " + problem.message]
        return None
