"""`GET /healthz` (liveness) and `GET /readyz` (readiness: database, broker, workers).

/healthz answers from this process alone, touching neither the database nor the broker: a process manager restarts
what does not answer it. /readyz reads the workers' heartbeat rows and pings Redis with a short timeout (never a
worker ping) and answers 503 with the reasons when a part is down. Anyone sees each part up or down and a reason
code; the details, which name the database engine and the worker hosts, are for a signed-in admin or auditor only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user

from web import outages
from web.context import Unauthenticated, container, current_actor
from workflow.domain.actors import Role

blueprint = Blueprint("health", __name__)
SEE_DETAILS = frozenset({Role.ADMIN, Role.AUDITOR})


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify(status="up")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = container().health()
    ready = all(check["up"] for check in checks.values())
    shown = checks if _may_see_details() else {name: _public(check) for name, check in checks.items()}
    return jsonify(status="ready" if ready else "not_ready", checks=shown), 200 if ready else 503


def _public(check: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in check.items() if key in ("up", "reason")}


def _may_see_details() -> bool:
    try:
        return _role() in SEE_DETAILS
    except Exception as error:
        if outages.failing_part(error) is None:
            raise
        return False  # the database that knows who the caller is may be the very part that is down


def _role() -> Role | None:
    """The caller's role by API token or page session; never by password, which would be an unthrottled oracle."""
    auth = request.authorization
    if auth is not None and auth.type == "bearer":
        try:
            return current_actor().role
        except Unauthenticated:
            return None
    user: Any = current_user
    return user.actor.role if getattr(user, "is_authenticated", False) else None
