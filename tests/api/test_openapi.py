"""The OpenAPI 3.1 document: served at /api/v1/openapi.json, equal to the committed copy, covering every route."""

from __future__ import annotations

import json
import re

from tests.api.conftest import World
from web.spec import COMMITTED, dumps

REFRESH = "python -m web.spec"


def test_the_served_document_is_openapi_3_1_and_matches_the_committed_copy(world: World) -> None:
    response = world.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    served = response.json
    assert served["openapi"].startswith("3.1")
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert dumps(served) == dumps(committed), f"docs/api/openapi.json is stale: run `{REFRESH}` and commit it"


def test_every_api_route_is_in_the_document_with_its_methods(world: World) -> None:
    served = world.client.get("/api/v1/openapi.json").json
    app = world.client.application
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "openapi.spec":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <int:id> and <no> alike become {id}, {no}
        methods = {method.lower() for method in rule.methods or ()} - {"head", "options"}
        assert methods <= set(served["paths"].get(path, {})), f"{path} {methods} missing from the document"


def test_error_responses_are_documented_as_problem_json(world: World) -> None:
    served = world.client.get("/api/v1/openapi.json").json
    operation = served["paths"]["/api/v1/applications/{application_id}/grant"]["post"]
    for status in ("400", "401", "403", "404", "409", "422"):
        assert "application/problem+json" in operation["responses"][status]["content"]
