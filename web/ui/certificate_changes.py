"""Pages for changes to a granted certificate (R43, C7): the holder's request form, the decider's field-level diff.

The request form is read with the API's schema (`ChangeRequestIn`); a refusal comes back to the form with the input
kept and each message at its field. The decider's page shows every changed field as old → new, and the decision
goes through the same command as the API's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError
from werkzeug.wrappers import Response

from web.context import container
from web.request_reads import request_reads
from web.ui.auth import actor, allow
from web.ui.field_errors import at_fields
from web.ui.forms import CATEGORIES, PURITY
from web.ui.goods import FLAGS, LAB, SELECT_FIELDS, TEXT_FIELDS
from web.ui.objects import READERS, certificate_page, require_visible
from web.ui.refusals import RETURNED, Refusal, back_to_the_page, explain, refusal_of
from workflow.domain import commands as c
from workflow.domain.certificate_changes import PARTICULAR_FIELDS, ChangeKind, ChangeState
from workflow.domain.errors import ConcurrencyConflict, DomainError, InvalidInput, InvalidTransition
from workflow.domain.lifecycle import CertState
from workflow.domain.permissions import Action, may
from workflow.service.certificate_changes import parse_request, request_command
from workflow.store import api_reads, replacements
from workflow.store import certificate_changes as reads
from workflow.store.tables import ApplicationRow

blueprint = Blueprint("ui_certificate_changes", __name__, url_prefix="/ui")
# The engine words a phone check in English; beside the field people read the catalog's sentence.
REASONS: dict[str, Any] = {"phone": _l("Not a telephone number: digits, spaces and hyphens, optionally a leading +.")}


# R43: how a replacement's line compares with the certificate's, in words.
LINE_CHANGES: dict[str, Any] = {
    "unchanged": _l("Unchanged"),
    "changed": _l("Changed"),
    "added": _l("Added"),
    "removed": _l("Removed"),
}
LINE_FACTS: dict[str, Any] = {
    **{name: words for name, words, _required in TEXT_FIELDS},
    **{name: words for name, words, _choices in SELECT_FIELDS},
    **dict(FLAGS),
    LAB: _l("User laboratory"),
}
CHOICES: dict[str, dict[str, Any]] = {"category": dict(CATEGORIES), "protein_purity": dict(PURITY)}


@blueprint.app_context_processor
def _section() -> dict[str, Any]:
    """The certificate page's and the application page's parts: requests, particulars, a replacement's diff."""
    return {
        "certificate_changes": _changes_of,
        "replacement_of": _replacement_of,
        "line_change": lambda status: LINE_CHANGES.get(status, status),
        "line_fact": lambda name: LINE_FACTS.get(name, _l("Another fact of the line")),
        "fact_value": _fact_value,
    }


def _fact_value(name: str, value: str) -> Any:
    """A line fact's value in words: yes/no for a flag, the choice's words for a code, else the value as entered."""
    if value in ("True", "False"):
        return _l("Yes") if value == "True" else _l("No")
    return CHOICES.get(name, {}).get(value, value) or "—"


def _replacement_of(application_id: int, replaces_certificate_id: int | None) -> dict[str, Any] | None:
    """The diff against the certificate replaced; the page read which one with the application's row (None: none)."""
    if replaces_certificate_id is None:
        return None
    with request_reads() as session:
        view = replacements.replacement_view(session, application_id)
        screening = session.get(ApplicationRow, application_id)
    if view is None:
        return None
    screened = ((screening.screening if screening else None) or {}).get("replacement") or {}
    reused = {line["line_no"]: line for line in screened.get("lines", []) if line.get("reused_from")}
    return {**view, "reused": reused}


def _changes_of(cert: dict[str, Any]) -> dict[str, Any]:
    """Requests, particulars and replacement links in one read (`certificate_section`), and what the reader may do."""
    with request_reads() as session:
        section = reads.certificate_section(session, cert["id"])
    open_one = any(item.state is ChangeState.REQUESTED for item in section["requests"])
    active = cert["state"] == CertState.ACTIVE
    may_ask = active and not open_one and may(actor(), Action.REQUEST_CERTIFICATE_CHANGE)
    may_replace = active and section["pending_application_id"] is None and may(actor(), Action.START_REPLACEMENT)
    return {**section, "may_ask": may_ask, "may_replace": may_replace}


# -- the holder's request -------------------------------------------------------------------------------------------


@blueprint.get("/certificates/<int:certificate_id>/changes/new")
@allow(Action.REQUEST_CERTIFICATE_CHANGE)
def new_change(certificate_id: int) -> str:
    require_visible("certificate_id", certificate_id)
    return _form_page(certificate_id)


@blueprint.post("/certificates/<int:certificate_id>/changes/new")
@allow(Action.REQUEST_CERTIFICATE_CHANGE)
def file_change(certificate_id: int) -> Response | tuple[str, int]:
    """The form through the API's schema and command; refused, the form comes back with the input and the messages."""
    require_visible("certificate_id", certificate_id)
    try:
        body = parse_request(_posted(certificate_id))
        change_id = container().bus.handle(request_command(actor(), certificate_id, body))
    except RETURNED as problem:
        status = 409 if isinstance(problem, InvalidTransition | ConcurrencyConflict) else 422
        return _form_page(certificate_id, refusal_of("change", problem), _field_messages(problem)), status
    flash(_("Your request is filed; the district will decide it."))
    return redirect(url_for("ui_certificate_changes.show_change", change_id=change_id), 303)


def _posted(certificate_id: int) -> dict[str, Any]:
    """The form as the API's body; ports the form does not offer (the profile keeps them) stay as they are."""
    kind = request.form.get("kind", "")
    data: dict[str, Any] = {"kind": kind, "reason": request.form.get("reason", "")}
    if kind == ChangeKind.AMENDMENT:
        particulars = {name: request.form.get(name, "") for name in PARTICULAR_FIELDS if name != "ports"}
        if "ports" in request.form:
            ports = [line.strip() for line in request.form["ports"].splitlines() if line.strip()]
        else:
            with request_reads() as session:
                ports = list(reads.particulars_of(session, certificate_id).ports)
        data["particulars"] = {**particulars, "ports": ports}
    return data


def _field_messages(problem: DomainError) -> dict[str, str]:
    """Each message under the form field it is about: `particulars.phone` is the form's `phone`."""
    found: dict[str, str] = {}
    if isinstance(problem, InvalidInput) and isinstance(problem.__cause__, ValidationError):
        found = at_fields(problem, _form_field)  # the schema's errors, each at its field
    found = found or {_form_field(problem.field or ""): explain(problem)[0]}
    return {name: str(REASONS.get(name, message)) for name, message in found.items()}


def _form_field(path: str) -> str:
    """The last name of the path that is a form field: `particulars.ports.0` is `ports`."""
    names = [part for part in path.split(".") if part and part != "particulars" and not part.isdigit()]
    return names[-1] if names else ""


def _form_page(certificate_id: int, refusal: Refusal | None = None, errors: dict[str, str] | None = None) -> str:
    with request_reads() as session:
        cert = api_reads.certificate(session, certificate_id)
        current = reads.particulars_of(session, certificate_id)
    policy = container().deps.policies.policy_for(cert["district"], container().deps.clock.today(cert["district"]))
    kept = request.form if refusal is not None else None
    return render_template(
        "ui/certificate_changes/new.html",
        cert=cert,
        current=current,
        amendable=sorted(policy.amendments.fields),
        kept=kept,
        refusal=refusal,
        errors=errors or {},
    )


@blueprint.post("/certificates/<int:certificate_id>/replacement")
@allow(Action.START_REPLACEMENT)
@back_to_the_page(lambda certificate_id, refusal: certificate_page(certificate_id, refusal), lambda **_kw: "replace")
def start_replacement(certificate_id: int) -> Response:
    """R43: a draft pre-filled from the certificate, opened in the goods editor for the substantive change."""
    require_visible("certificate_id", certificate_id)
    draft = container().bus.handle(c.StartReplacement(actor(), certificate_id))
    flash(_("A replacement application is drafted from the certificate: change what needs changing, then submit."))
    return redirect(url_for("ui_applicant.edit_application", application_id=draft), 303)


# -- the district's decision ----------------------------------------------------------------------------------------


@blueprint.get("/certificate-changes")
@allow(Action.DECIDE_CERTIFICATE_CHANGE)
def queue() -> str:
    """The district's open requests, oldest first."""
    with request_reads() as session:
        rows = reads.open_in(session, actor().district)
    return render_template("ui/certificate_changes/queue.html", rows=rows)


@blueprint.get("/certificate-changes/<int:change_id>")
@allow(READERS)
def show_change(change_id: int) -> str:
    require_visible("change_id", change_id)
    return _change_page(change_id)


@blueprint.post("/certificate-changes/<int:change_id>/decision")
@allow(Action.DECIDE_CERTIFICATE_CHANGE)
@back_to_the_page(lambda change_id, refusal: _change_page(change_id, refusal), lambda **_kwargs: "decision")
def decide_change(change_id: int) -> Response:
    require_visible("change_id", change_id)
    decision = request.form.get("decision", "")
    if decision not in ("approve", "refuse"):
        raise InvalidInput(_("Choose to approve or to refuse."), field="decision")
    reason = request.form.get("reason", "")
    container().bus.handle(c.DecideCertificateChange(actor(), change_id, decision == "approve", reason))
    flash(_("Done."))
    return redirect(url_for("ui_certificate_changes.show_change", change_id=change_id), 303)


def _change_page(change_id: int, refusal: Refusal | None = None) -> str:
    with request_reads() as session:
        view = reads.change_view(session, change_id)
    deciding = view["state"] == ChangeState.REQUESTED and may(actor(), Action.DECIDE_CERTIFICATE_CHANGE)
    return render_template("ui/certificate_changes/show.html", change=view, deciding=deciding, refusal=refusal)
