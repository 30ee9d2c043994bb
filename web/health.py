"""`GET /healthz`: database, broker and worker; 200 only when all three are up.

Anyone (a load balancer, a container's health check) sees only up or down, overall and per part. The reasons, which
name the database engine and the worker hosts, are for a signed-in admin or auditor only (API token or page session).
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
def healthz() -> tuple[Response, int]:
    checks = container().health()
    up = all(check["up"] for check in checks.values())
    shown = checks if _may_see_details() else {name: {"up": check["up"]} for name, check in checks.items()}
    return jsonify(status="up" if up else "down", checks=shown), 200 if up else 503


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
