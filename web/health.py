"""`GET /healthz`: database, broker and worker; 200 only when all three are up."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from web.context import container

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    checks = container().health()
    up = all(check["up"] for check in checks.values())
    return jsonify(status="up" if up else "down", checks=checks), 200 if up else 503
