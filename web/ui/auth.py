"""Signing people in and out with a session cookie, the language switch, and the role check on every page.

The password check, the login history and the sign-in throttle are the API's (web/context.py, web/throttle.py): a
failed form sign-in counts against the same per-name-and-source counters as a failed HTTP Basic request. A session is
a row on the server (workflow/store/accounts.py): the cookie carries only its token, and signing out revokes the row,
so a copy of the old cookie is signed out too. A route that
does something names its action, and its roles come from the permission table the API and the domain read
(workflow/domain/permissions.py); templates ask the same table with `may('application.claim')`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from apiflask import APIFlask
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from web.context import Unauthenticated, check_password, container, login_event
from web.passwords import fresh_hash
from web.throttle import TooManyAttempts
from web.ui.forms import SignInForm, fields_checked_by_the_form
from web.ui.i18n import LANGUAGES
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import NotFound, PermissionDenied
from workflow.domain.permissions import Action, role_may, roles_for
from workflow.store.accounts import issue_session, revoke_session, session_actor

blueprint = Blueprint("ui_auth", __name__, url_prefix="/ui")
F = TypeVar("F", bound=Callable[..., Any])
Choice = Action | frozenset[Role]  # what a request asks for: an action of the table, or a page for some roles
SESSION_LIFETIME = timedelta(hours=12)  # a working day; the row decides, so signing out ends it sooner


@dataclass(frozen=True)
class SessionUser:
    """Flask-Login's view of a signed-in person: the workflow actor, re-read with its session on every request."""

    actor: Actor
    session_token: str
    locale: str = "zh"
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        """What Flask-Login keeps in the cookie: the session's token, whose row sign-out revokes."""
        return self.session_token


def register(app: APIFlask) -> None:
    manager = LoginManager(app)
    manager.login_view = "ui_auth.sign_in"
    manager.login_message = ""  # the sign-in page says what to do; an untranslated flash would not
    manager.user_loader(_load)
    app.context_processor(lambda: {"may": may})


def _load(token: str) -> SessionUser | None:
    """A signed-out, expired or unknown session, or a deactivated user, is signed out at the next request."""
    with container().sessions() as db:
        found = session_actor(db, token, container().deps.clock.now())
    return SessionUser(found[0], token, found[1]) if found else None


def actor() -> Actor:
    """The signed-in person as a workflow actor; pages reach here only through `allow`."""
    user: SessionUser = current_user  # type: ignore[assignment]
    return user.actor


def may(action: str) -> bool:
    """For templates: a button is shown only to a role the permission table lets do its action."""
    return bool(current_user.is_authenticated) and role_may(actor().role, Action(action))


def allow(roles: Iterable[Role] | Action) -> Callable[[F], F]:
    """Signed in, in one of `roles` (a page) or a role the table gives the action; else sign in, or 403."""
    if isinstance(roles, Action):
        action = roles
        return _gate(lambda _kwargs: action, roles_for(action), ui_action=action)
    allowed = frozenset(roles)
    return _gate(lambda _kwargs: allowed, allowed)


def allow_each(argument: str, actions: Mapping[str, Action]) -> Callable[[F], F]:
    """A route whose path `argument` names the action (`act/<trigger>`): an unknown one is 404, then as `allow`."""

    def choose(kwargs: dict[str, Any]) -> Choice:
        found = actions.get(kwargs[argument])
        if found is None:
            raise NotFound(_("Not found."))
        return found

    roles = frozenset(role for action in actions.values() for role in roles_for(action))
    return _gate(choose, roles, ui_actions=(argument, dict(actions)))


def _gate(choose: Callable[[dict[str, Any]], Choice], roles: frozenset[Role], **marks: Any) -> Callable[[F], F]:
    """The check itself, before the view reads anything; `ui_roles` and the marks let tests walk the routes."""

    def decorate(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            chosen, role = choose(kwargs), actor().role
            if not (role_may(role, chosen) if isinstance(chosen, Action) else role in chosen):
                raise PermissionDenied(_("This page is not for your role."))
            return view(*args, **kwargs)

        checked.ui_roles = roles  # type: ignore[attr-defined]
        for name, value in marks.items():
            setattr(checked, name, value)
        return checked  # type: ignore[return-value]

    return decorate


@blueprint.route("/sign-in", methods=["GET", "POST"])
@fields_checked_by_the_form
def sign_in() -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    form = SignInForm()
    if not form.validate_on_submit():
        return render_template("ui/sign_in.html", form=form), 400 if request.method == "POST" else 200
    try:
        account = check_password(form.username.data or "", form.password.data or "")
    except Unauthenticated:  # the failure is already in the login history; the form says it once, vaguely
        form.password.errors = [_("Unknown user or wrong password.")]
        return render_template("ui/sign_in.html", form=form), 401
    except TooManyAttempts as refused:
        wait = refused.retry_after
        form.password.errors = [_("Too many failed attempts. Try again in %(seconds)s seconds.", seconds=wait)]
        return render_template("ui/sign_in.html", form=form), 429, {"Retry-After": str(wait)}
    login_event(account.username, account, "login", fresh_hash(account.password_hash, form.password.data or ""))
    with container().sessions() as db, db.begin():
        issued = issue_session(db, account.id, container().deps.clock.now(), SESSION_LIFETIME)
    session.clear()  # a fresh session on sign-in: no fixation, and the old CSRF token goes with it
    login_user(SessionUser(account.actor, issued.token))
    return redirect(_safe_next(request.args.get("next")), 303)


@blueprint.post("/sign-out")
def sign_out() -> Response:
    lang = session.get("lang")
    if current_user.is_authenticated:
        with container().sessions() as db, db.begin():
            revoke_session(db, current_user.get_id(), container().deps.clock.now())
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("ui_auth.sign_in"), 303)


@blueprint.post("/language")
def language() -> Response:
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return redirect(_safe_next(request.form.get("next")), 303)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would turn the sign-in page into a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("ui.home")
