"""The OpenAPI 3.1 document of `/api/v1`: security schemes, problem+json error responses, and its committed copy.

`python -m web.spec` rewrites docs/api/openapi.json from the routes; tests/api/test_openapi.py fails when the served
document and the committed copy drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from apiflask import APIFlask

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` lists every invalid field with the reason.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "rule_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}
SECURITY_SCHEMES = {
    "BearerAuth": {"type": "http", "scheme": "bearer", "description": "a token from POST /api/v1/tokens"},
    "BasicAuth": {"type": "http", "scheme": "basic", "description": "user name and password (rate limited)"},
}
ERRORS = {
    "400": "The body is not JSON at all",
    "401": "No credentials, or wrong ones",
    "403": "The caller's role may not do this",
    "404": "No such object, or not one the caller may see",
    "409": "The object's state does not allow this now, or a concurrent change won",
    "413": "The body is over its size limit (docs/api/README.md#limits)",
    "415": "The body is not sent as application/json",
    "422": "Invalid input (a field missing, of the wrong type or out of its limits), or a rule of the domain refused",
    "429": "Too many failed sign-ins; retry after the Retry-After seconds",
}


def register(app: APIFlask) -> None:
    app.config["SECURITY_SCHEMES"] = SECURITY_SCHEMES
    app.config["AUTO_SERVERS"] = False  # the document must not depend on the host that asked for it
    app.config["VALIDATION_ERROR_SCHEMA"] = PROBLEM_SCHEMA
    app.config["HTTP_ERROR_SCHEMA"] = PROBLEM_SCHEMA
    app.spec_processor(_complete)


def _complete(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    spec["security"] = [{"BearerAuth": []}, {"BasicAuth": []}]
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses[status] = {
                    "description": description,
                    "content": {"application/problem+json": {"schema": PROBLEM_REF}},
                }
    return spec


def document(app: APIFlask) -> dict[str, Any]:
    spec: dict[str, Any] = app._get_spec("json", force_update=True)
    return json.loads(json.dumps(spec))


def dumps(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Rewrite the committed copy from the routes (no database is touched)."""
    from web import create_app

    COMMITTED.parent.mkdir(parents=True, exist_ok=True)
    COMMITTED.write_text(dumps(document(create_app())), encoding="utf-8")
    sys.stdout.write(f"wrote {COMMITTED}\n")


if __name__ == "__main__":
    main()
