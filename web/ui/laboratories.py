"""The laboratories pages (R9(b), R14, R62): the enterprise's admin keeps its labs, an officer of the district verifies.

The form's fields are checked by the one input schema the API and the CLI use (workflow/service/biosafety.py
`parse_laboratory`); each problem is shown at its field in the reader's language, with what was typed kept. The same
permission predicates as the API (workflow/domain/biosafety.py) decide which forms a person gets, and the handlers
ask them again inside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import FileField, HiddenField, SelectField, StringField

from web.context import container
from web.request_reads import request_reads
from web.ui import field_errors
from web.ui.auth import actor, allow
from web.ui.forms import options
from web.ui.refusals import RETURNED, explain
from web.uploads import read_upload
from workflow.domain import commands as c
from workflow.domain.actors import Role
from workflow.domain.biosafety import LabDetails, Laboratory, LabOwner, may_maintain_labs, may_verify_lab
from workflow.domain.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from workflow.domain.permissions import Action
from workflow.service.biosafety import parse_laboratory
from workflow.store.enterprise_admin import is_enterprise_admin
from workflow.store.laboratories import district_labs, enterprise_labs, laboratory_of
from workflow.store.tables import EnterpriseRow, LaboratoryRow

blueprint = Blueprint("ui_labs", __name__, url_prefix="/ui/labs")
Evidence = tuple[str, str] | None
READERS = (Role.APPLICANT, Role.ACCEPTOR, Role.REVIEWER, Role.DECIDER, Role.HEAD, Role.ADMIN)
LEVELS = [("1", "BSL-1"), ("2", "BSL-2"), ("3", "BSL-3"), ("4", "BSL-4")]
FIELDS = ("name", "address", "bsl_level", "accreditation_body", "accreditation_no", "valid_from", "valid_until")
# The domain's cross-field refusals, by the field they name, in the reader's words.
REASONS: dict[str, Any] = {
    "name": _l("Enter the laboratory's name."),
    "bsl_level": _l("Choose a biosafety level from BSL-1 to BSL-4."),
    "accreditation_body": _l("An accreditation names both its body and its number."),
    "accreditation_no": _l("An accreditation names both its body and its number."),
    "valid_until": _l("The validity ends before it starts."),
    "evidence": _l("Attach the evidence document before the laboratory is verified."),
    "version": _l("Someone else changed this meanwhile. Reload the page and try again."),
}


class LabForm(FlaskForm):
    name = StringField(_l("Laboratory name"))
    address = StringField(_l("Address"))
    bsl_level = SelectField(_l("Biosafety level"), choices=options(LEVELS, data=True), default="2")
    accreditation_body = StringField(_l("Accreditation body"))
    accreditation_no = StringField(_l("Accreditation number"))
    valid_from = StringField(_l("Valid from"), render_kw={"type": "date"})
    valid_until = StringField(_l("Valid until"), render_kw={"type": "date"})
    evidence = FileField(_l("Evidence document (PDF, PNG or JPEG)"))
    version = HiddenField()


@blueprint.app_context_processor
def _lab_choices() -> dict[str, Any]:
    """`lab_choices()` for the goods-line form: the applicant's own labs, asked only where a template calls it."""
    return {"lab_choices": _own_labs, "lab_name": _lab_name}


def _lab_name(lab_id: int) -> str:
    """The registered lab a goods line names, as people know it (its name and level), for the goods table."""
    with request_reads() as session:
        row = session.get(LaboratoryRow, lab_id)
        return f"{row.name} (BSL-{row.bsl_level})" if row is not None else f"#{lab_id}"


def _own_labs() -> list[Laboratory]:
    if actor().role is not Role.APPLICANT or actor().enterprise_id is None:
        return []
    with request_reads() as session:
        return enterprise_labs(session, actor().enterprise_id or 0)


@blueprint.get("")
@allow(READERS)
def labs() -> tuple[str, int]:
    """Applicants see their enterprise's labs (the admin gets the forms); officers their district's, to verify."""
    return _page(LabForm(formdata=None), {}, None, 200)


@blueprint.post("")
@allow(Action.MAINTAIN_LAB)
def register() -> Response | tuple[str, int]:
    """A new lab of the admin's enterprise; refused input comes back at its field, nothing written."""
    owner = _applicant_owner()
    _require_maintainer(owner)
    done = _("The laboratory is registered; customs will verify it.")
    return _submit(None, done, lambda details, evidence, _version: c.RegisterLaboratory(
        actor(), owner.enterprise_id or 0, details, evidence))  # fmt: skip


@blueprint.post("/<int:lab_id>")
@allow(Action.MAINTAIN_LAB)
def change(lab_id: int) -> Response | tuple[str, int]:
    """An edit or new evidence; the verification starts again."""
    lab = _lab(lab_id)
    _require_maintainer(LabOwner(lab.enterprise_id, lab.district))
    done = _("The laboratory is saved; customs will verify it again.")
    return _submit(lab_id, done, lambda details, evidence, version: c.ChangeLaboratory(
        actor(), lab_id, details, evidence, version))  # fmt: skip


def _submit(editing: int | None, done: str, build: Callable[[LabDetails, Evidence, int | None], c.Command]) -> Any:
    """The posted form through the shared schema, then the command; a refusal re-renders the form at its fields."""
    form = LabForm()
    details, evidence = _details(form), _evidence(form)
    version = int(form.version.data) if str(form.version.data or "").isdigit() else None
    valid = details is not None and not form.evidence.errors and form.validate_on_submit()
    if valid and details is not None and _run(form, build(details, evidence, version)):
        flash(done, "ok")
        return redirect(url_for("ui_labs.labs"), 303)
    return _page(form, {}, editing, 422)


@blueprint.post("/<int:lab_id>/verify")
@allow(Action.VERIFY_LAB)
def verify(lab_id: int) -> Response | tuple[str, int]:
    """An officer of the lab's district verifies it; a refusal is shown on the lab's row."""
    lab = _lab(lab_id)
    if not may_verify_lab(actor(), lab):
        raise NotFound(_("Not found."))
    version = request.form.get("version", "")
    try:
        container().bus.handle(c.VerifyLaboratory(actor(), lab_id, int(version) if version.isdigit() else None))
    except RETURNED as problem:
        return _page(LabForm(formdata=None), {lab_id: _reason(problem)}, None, 409 if problem.status == 409 else 422)
    flash(_("The laboratory is verified."), "ok")
    return redirect(url_for("ui_labs.labs"), 303)


def _page(form: LabForm, refused: dict[int, str], editing: int | None, status: int) -> tuple[str, int]:
    me = actor()
    with request_reads() as session:
        if me.role is Role.APPLICANT:
            listed = enterprise_labs(session, me.enterprise_id or 0)
            admin = is_enterprise_admin(session, me.user_id or 0)
        else:
            listed, admin = district_labs(session, me.district), False
    owner = LabOwner(me.enterprise_id, me.district)
    page = render_template(
        "ui/labs.html",
        labs=listed,
        form=form,
        blank=LabForm(formdata=None),
        refused=refused,
        editing=editing,
        maintain=me.role is Role.APPLICANT and may_maintain_labs(me, owner, admin),
        verifiable={lab.id for lab in listed if may_verify_lab(me, lab)},
        today=container().deps.clock.today(me.district),
    )
    return page, status


def _details(form: LabForm) -> Any:
    """The posted fields through the shared schema; None with each problem at its field when refused."""
    raw = {name: (request.form.get(name) or "").strip() for name in FIELDS}
    typed: dict[str, Any] = {name: value for name, value in raw.items() if value != ""}
    if str(typed.get("bsl_level", "")).isdigit():
        typed["bsl_level"] = int(typed["bsl_level"])
    try:
        return parse_laboratory(typed)
    except InvalidInput as problem:
        _place(form, problem)
        return None


def _place(form: LabForm, problem: DomainError) -> None:
    if isinstance(problem, InvalidInput) and problem.__cause__ is not None:
        placed = field_errors.at_fields(problem, lambda path: path.split(".")[0])
    else:
        placed = {problem.field or "": _reason(problem)}
    for name, message in placed.items():
        target = form._fields.get(name)
        if target is None or name == "version":
            form.form_errors.append(str(REASONS["version"]) if name == "version" else message)
        else:
            target.errors = [*target.errors, message]


def _reason(problem: DomainError) -> str:
    return str(REASONS.get(problem.field or "") or explain(problem)[0])


def _run(form: LabForm, command: c.Command) -> bool:
    try:
        container().bus.handle(command)
    except RETURNED as problem:
        _place(form, problem)
        return False
    return True


def _evidence(form: LabForm) -> tuple[str, str] | None:
    upload = request.files.get("evidence")
    if upload is None or not upload.filename:
        return None
    try:
        stored = read_upload(upload)
    except InvalidInput:
        form.evidence.errors = [str(_l("Upload a PDF, PNG or JPEG file that is not empty and at most 10 MB."))]
        return None
    return container().deps.documents.put(stored.content), stored.filename


def _applicant_owner() -> LabOwner:
    with request_reads() as session:
        enterprise = session.get(EnterpriseRow, actor().enterprise_id or 0)
    return LabOwner(actor().enterprise_id, enterprise.district if enterprise else None)


def _require_maintainer(owner: LabOwner) -> None:
    with request_reads() as session:
        admin = is_enterprise_admin(session, actor().user_id or 0)
    if actor().role is not Role.APPLICANT or not may_maintain_labs(actor(), owner, admin):
        raise PermissionDenied(_("Only the enterprise's admin may keep its laboratories."))


def _lab(lab_id: int) -> Laboratory:
    with request_reads() as session:
        row = session.get(LaboratoryRow, lab_id)
        if row is None:
            raise NotFound(_("Not found."))
        return laboratory_of(row)
