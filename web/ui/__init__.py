"""The server-rendered front end for people: session sign-in, CSRF, zh-Hans/English, one blueprint per audience.

The JSON API keeps its own tokens and Basic credentials; these pages sign people in with a session cookie, check the
password with the API's Argon2 check (web/context.py) and write the same login history.
"""

from __future__ import annotations

from apiflask import APIFlask
from flask import request
from flask_wtf.csrf import CSRFProtect

from web.ui import (
    applicant,
    audit,
    audit_tools,
    auth,
    cells,
    certificate_changes,
    credit,
    enterprise,
    expert,
    history_rows,
    i18n,
    inbox,
    laboratories,
    local_time,
    objects,
    port,
    review,
    simulation,
    views,
)

BLUEPRINTS = (auth.blueprint, views.blueprint, objects.blueprint, applicant.blueprint, review.blueprint,
              expert.blueprint, port.blueprint, audit.blueprint, audit_tools.blueprint,
              enterprise.blueprint, inbox.blueprint, certificate_changes.blueprint,
              laboratories.blueprint, credit.blueprint, simulation.blueprint)  # fmt: skip
PAGES = frozenset(blueprint.name for blueprint in BLUEPRINTS)
for _blueprint in BLUEPRINTS:  # once per process: a blueprint is set up before any app registers it
    views.add_error_pages(_blueprint)


def register(app: APIFlask) -> None:
    """Babel, the login manager, CSRF (checked on every UI request, never on the token-based API) and the pages."""
    # The API and the public verify form are not cookie-authenticated, so a global CSRF check would only break them.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    csrf = CSRFProtect(app)
    i18n.register(app)
    local_time.register(app)
    auth.register(app)
    cells.register(app)
    history_rows.register(app)

    @app.before_request
    def _csrf() -> None:
        if request.blueprint in PAGES:
            csrf.protect()  # a no-op for GET and HEAD

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
