"""Pages every signed-in person shares: the home page and nav for their role, and the error pages of the UI.

Errors in a page are pages too: a domain error (a guard, a wrong state, another district's object) is shown in the
layout with its HTTP status, never as a JSON problem and never as a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from web import outages
from web.security import REFUSED_INPUT
from web.ui.auth import actor, allow
from web.ui.refusals import RAISES_REFUSED_INPUT
from workflow.domain.actors import Role
from workflow.domain.errors import DomainError, InvalidInput

log = logging.getLogger(__name__)
blueprint = Blueprint("ui", __name__, url_prefix="/ui")
CUSTOMS_DESK = (Role.ACCEPTOR, Role.REVIEWER, Role.DECIDER, Role.HEAD)
EVERYONE = tuple(role for role in Role if role is not Role.SYSTEM)

NAV: dict[Role, tuple[tuple[str, Any], ...]] = {
    Role.APPLICANT: (
        ("ui_applicant.applications", _l("My applications")),
        ("ui_applicant.new_application", _l("New application")),
        ("ui_applicant.precheck", _l("Pre-check")),
        ("ui_applicant.certificates", _l("Certificates")),
        ("ui_applicant.declarations", _l("Declarations")),
        ("ui_applicant.profile", _l("Enterprise")),
        ("ui_labs.labs", _l("Laboratories")),
    ),
    **{role: (("ui_review.queue", _l("Review queue")), ("ui_labs.labs", _l("Laboratories"))) for role in CUSTOMS_DESK},
    Role.DECIDER: (
        ("ui_review.queue", _l("Review queue")),
        ("ui_port.reversals", _l("Reversals")),
        ("ui_certificate_changes.queue", _l("Certificate changes")),
        ("ui_labs.labs", _l("Laboratories")),
    ),
    Role.EXPERT: (("ui_expert.desk", _l("My assessments")),),
    Role.PORT_OFFICER: (("ui_port.desk", _l("Port desk")), ("ui_port.reversals", _l("Reversals"))),
    Role.DEST_OFFICER: (("ui_port.desk", _l("Port desk")),),
    Role.AUDITOR: (
        ("ui_audit.dashboard", _l("Dashboard")),
        ("ui_audit.write_offs", _l("Write-offs")),
        ("ui_audit.ledger_check", _l("Ledger check")),
        ("ui_audit.trail", _l("Audit trail")),
        ("ui_simulation.latest", _l("Policy-impact simulation")),  # docs/simulator.md
    ),
    Role.ADMIN: (("ui_audit.dashboard", _l("Dashboard")), ("ui_audit.trail", _l("Audit trail"))),
}


@blueprint.app_context_processor
def _nav() -> dict[str, Any]:
    if not getattr(current_user, "is_authenticated", False):
        return {"nav": ()}
    return {"nav": NAV.get(actor().role, ()), "me": actor()}


@blueprint.get("/")
@allow(EVERYONE)
def home() -> Response:
    """Each role starts on its own desk."""
    first = NAV.get(actor().role)
    return redirect(url_for(first[0][0]) if first else url_for("ui_auth.sign_in"), 303)


def add_error_pages(target: Blueprint) -> None:
    target.register_error_handler(DomainError, _domain_error)
    target.register_error_handler(CSRFError, _csrf_error)
    target.register_error_handler(RequestEntityTooLarge, _too_large)
    target.register_error_handler(HTTPException, _http_error)
    target.register_error_handler(Exception, _unexpected)


def _unexpected(error: Exception) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    """An error no page expects: the database or broker is down (503, one log line per outage), or a bug."""
    part = outages.failing_part(error)
    if part is not None:
        return _unavailable(part, error)
    log.exception("unhandled error in a page")
    return _error_page(500, _("Something went wrong."))


def _unavailable(part: str, error: Exception) -> tuple[str, int, dict[str, str]]:
    outages.met(part, error)
    # The page's layout asks who is signed in; it must not ask the database that is down, so it shows no one.
    g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
    page, status = _error_page(503, _("The service is briefly unavailable. Please try again in a moment."))
    return page, status, {"Retry-After": str(outages.RETRY_AFTER_SECONDS)}


def _domain_error(error: DomainError) -> tuple[str, int]:
    status = 422 if error.field and error.status in (404, 500) else error.status
    status = 500 if status >= 500 else status
    return _error_page(status, _title(status), error.message, error.field, error.rule_id)


def _too_large(error: RequestEntityTooLarge) -> Response | tuple[str, int]:
    """An upload over the request's size limit: its page again, the file field saying why, where the form has one.

    The body is never read: the view's own gate (signed in, role) runs, then its refusal wrapper shows the form.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method != "POST" or view is None or not getattr(view, RAISES_REFUSED_INPUT, False):
        return _http_error(error)
    g.setdefault(REFUSED_INPUT, InvalidInput("the upload is over the size limit", field="file"))
    request.form = request.files = ImmutableMultiDict()  # type: ignore[misc]  # unread, so the page keeps nothing
    response = current_app.make_response(view(**(request.view_args or {})))
    if response.status_code == 422:  # the form came back: say why in the status too
        response.status_code = 413
    return response


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return _error_page(400, _("The form expired or did not come from this site. Reload the page and try again."))


def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return _error_page(status, _title(status))


def _title(status: int) -> str:
    titles = {
        400: _("The request is not valid."),
        401: _("Please sign in."),
        403: _("You may not do this."),
        404: _("Not found."),
        405: _("Not found."),
        409: _("This was changed meanwhile or is not possible in its current state."),
        413: _("The file is too large."),
        422: _("The request cannot be carried out."),
        429: _("Too many attempts. Wait a minute and try again."),
    }
    return titles.get(status, _("Something went wrong."))


def _error_page(
    status: int, title: str, detail: str = "", field: str | None = None, rule_id: str | None = None
) -> tuple[str, int]:
    back = _same_site(request.referrer)
    page = render_template(
        "ui/error.html", status=status, title=title, detail=detail, field=field, rule_id=rule_id, back=back
    )
    return page, status


def _same_site(url: str | None) -> str | None:
    return url if url and url.startswith(request.host_url) else None
