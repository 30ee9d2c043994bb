"""The enterprise's own administration pages: its admin edits the profile and manages the applicant users.

Every applicant user sees the users' list; only the enterprise's admin (read from the database on every request, so
a demoted admin loses the forms at once) gets the forms. Each change goes through the service's commands
(workflow/service/enterprises.py), which check the right again, lock the enterprise and write the audit event; a
refused change is shown beside its field with nothing written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, Field, HiddenField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from web.context import HASHER, container
from web.request_reads import request_reads
from web.ui.auth import actor, allow, allow_each
from web.ui.forms import PageForm, fields_checked_by_the_form
from web.ui.refusals import RETURNED, explain
from workflow.domain import commands as c
from workflow.domain import inputs
from workflow.domain.actors import Role
from workflow.domain.enterprise import check_password
from workflow.domain.errors import GuardFailed, InvalidInput, PermissionDenied
from workflow.domain.permissions import Action
from workflow.service.enterprises import PROFILE_FIELDS
from workflow.store import ui_queries
from workflow.store.enterprise_admin import enterprise_users, is_enterprise_admin

blueprint = Blueprint("ui_enterprise", __name__, url_prefix="/ui/enterprise")
APPLICANT = (Role.APPLICANT,)
REQUIRED = _l("This field is required.")
# The engine's reasons are English sentences; beside a field people read these instead.
REASONS: dict[str, Any] = {
    "name": _l("The enterprise name may not be empty."),
    "phone": _l("Not a telephone number: digits, spaces and hyphens, optionally a leading +."),
    "username": _l("3 to 80 letters, digits, dots, hyphens or underscores, starting with a letter or digit."),
    "display_name": _l("Enter a display name of at most 120 characters."),
    "email": _l("Not an e-mail address."),
    "password": _l("A password has 10 to 200 characters."),
    "version": _l("Someone else changed the profile meanwhile. Reload the page and edit again."),
}
TAKEN = _l("This user name is taken.")
LAST_ADMIN = _l("The enterprise's last admin can neither step down nor be deactivated; make another admin first.")
ACTIONS = {
    "deactivate": {"active": False},
    "reactivate": {"active": True},
    "make_admin": {"is_admin": True},
    "unmake_admin": {"is_admin": False},
}


class ProfileForm(PageForm):
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=200)])
    name_en = StringField(_l("English name"), validators=[Optional(), Length(max=200)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    contact_person = StringField(_l("Contact person"), validators=[Optional(), Length(max=120)])
    phone = StringField(_l("Telephone"), validators=[Optional(), Length(max=40)])
    version = HiddenField()


class UserForm(PageForm):
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED), Length(max=80)])
    display_name = StringField(_l("Display name"), validators=[DataRequired(REQUIRED), Length(max=120)])
    email = StringField(_l("E-mail"), validators=[DataRequired(REQUIRED), Length(max=200)])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(REQUIRED), Length(max=200)])
    is_admin = BooleanField(_l("Enterprise admin"))


class UserActionForm(PageForm):
    user_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=inputs.INT_MAX)])  # what the column holds


def _enterprise_id() -> int:
    return actor().enterprise_id or -1


def _is_admin() -> bool:
    with request_reads() as session:
        return is_enterprise_admin(session, actor().user_id or 0)


@blueprint.app_context_processor
def _admin_flag() -> dict[str, Any]:
    """`enterprise_admin()` for the profile page's links; asked only where a template calls it."""
    return {"enterprise_admin": lambda: actor().role is Role.APPLICANT and _is_admin()}


def _require_admin() -> None:
    if not _is_admin():
        raise PermissionDenied(_("Only the enterprise's admin may change its profile and users."))


@blueprint.route("/profile", methods=["GET", "POST"])
@allow(Action.UPDATE_ENTERPRISE)
@fields_checked_by_the_form
def edit_profile() -> Response | tuple[str, int]:
    """The profile form; the unified social credit code is shown, never edited (it is the enterprise's identity)."""
    _require_admin()
    with request_reads() as session:
        enterprise = ui_queries.enterprise_profile(session, _enterprise_id())
    form = ProfileForm(data=enterprise if request.method == "GET" else None)
    if form.validate_on_submit() and _save_profile(form):
        flash(_("The profile is saved."), "ok")
        return redirect(url_for("ui_applicant.profile"), 303)
    status = 422 if form.errors else 200
    return render_template("ui/enterprise/profile.html", form=form, enterprise=enterprise), status


def _save_profile(form: ProfileForm) -> bool:
    values = {name: getattr(form, name).data or "" for name in PROFILE_FIELDS}
    version = int(form.version.data) if str(form.version.data or "").isdigit() else None
    return _run(form, c.UpdateEnterpriseProfile(actor(), _enterprise_id(), **values, version=version))


def _run(form: FlaskForm, command: c.Command) -> bool:
    """The command, or False with the reason beside the field it names, else atop the form (nothing was written)."""
    try:
        container().bus.handle(command)
    except RETURNED as problem:
        target: Field | None = form._fields.get(problem.field or "")
        if target is None or problem.field == "csrf_token":
            form.form_errors.append(explain(problem)[0])
            return False
        taken = problem.field == "username" and "taken" in problem.message
        target.errors = [*target.errors, TAKEN if taken else REASONS.get(problem.field or "", explain(problem)[0])]
        if problem.field == "version":
            form.name.errors = [*form.name.errors, REASONS["version"]]  # a hidden field shows nothing
        return False
    return True


@blueprint.get("/users")
@allow(APPLICANT)
def users() -> tuple[str, int]:
    """Everyone sees who the enterprise's users are; the admin also gets the forms."""
    return _users_page(UserForm(), {}, 200)


def _users_page(form: UserForm, refused: dict[int, str], status: int) -> tuple[str, int]:
    with request_reads() as session:
        listed = enterprise_users(session, _enterprise_id())
    page = render_template("ui/enterprise/users.html", users=listed, form=form, admin=_is_admin(), refused=refused)
    return page, status


@blueprint.post("/users")
@allow(Action.ADD_ENTERPRISE_USER)
@fields_checked_by_the_form
def add_user() -> Response | tuple[str, int]:
    """A new applicant user of the admin's enterprise, who signs in with the initial password."""
    _require_admin()
    form = UserForm()
    if form.validate_on_submit() and _add(form):
        flash(_("The user is added and can sign in now."), "ok")
        return redirect(url_for("ui_enterprise.users"), 303)
    return _users_page(form, {}, 422)


def _add(form: UserForm) -> bool:
    password = form.password.data or ""
    try:
        check_password(password)  # before hashing: the service never sees the password itself
    except InvalidInput:
        form.password.errors = [REASONS["password"]]
        return False
    command = c.AddEnterpriseUser(
        actor(),
        _enterprise_id(),
        username=form.username.data or "",
        display_name=form.display_name.data or "",
        email=form.email.data or "",
        password_hash=HASHER.hash(password),
        is_admin=bool(form.is_admin.data),
    )
    return _run(form, command)


@blueprint.post("/users/<action>")
@allow_each("action", dict.fromkeys(ACTIONS, Action.CHANGE_ENTERPRISE_USER))
@fields_checked_by_the_form
def change_user(action: str) -> Response | tuple[str, int]:
    """Deactivate or reactivate a user, make or unmake an admin; the last admin's own refusal shows on their row."""
    _require_admin()
    form = UserActionForm()
    if not form.validate_on_submit() or form.user_id.data is None:
        return _users_page(UserForm(formdata=None), {}, 400)
    command = c.ChangeEnterpriseUser(actor(), _enterprise_id(), form.user_id.data, **ACTIONS[action])
    try:
        container().bus.handle(command)
    except RETURNED as problem:
        reason = explain(problem)[0]
        if isinstance(problem, GuardFailed):
            reason = str(LAST_ADMIN)
        return _users_page(UserForm(formdata=None), {form.user_id.data: reason}, 409 if problem.status == 409 else 422)
    return redirect(url_for("ui_enterprise.users"), 303)
