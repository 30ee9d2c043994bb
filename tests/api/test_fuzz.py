"""schemathesis against the committed OpenAPI document: valid and invalid requests to every operation, as several roles.

Bounded: a fixed number of examples per operation and mode, and a wall-clock budget for the whole run. Every response
must be no 5xx, carry a documented status and content type, and conform to the documented schema.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.api.conftest import World, home_objects
from web.spec import COMMITTED

EXAMPLES = 20  # per operation and generation mode
BUDGET_SECONDS = 240.0
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
SKIP = {("POST", "/api/v1/tokens")}  # signing in with generated passwords only feeds the rate limit


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_the_api_survives_generated_requests_and_answers_as_documented(world: World, mode: Any) -> None:
    statuses = _tally(world)
    home_objects(world)
    # The committed document (test_openapi.py keeps it equal to the served one), sent to the app in-process.
    schema = schemathesis.openapi.from_dict(json.loads(COMMITTED.read_text(encoding="utf-8")))
    schema.app = world.client.application
    actors = [world.home.applicant, world.home.acceptor, world.home.decider, world.home.port_officer, world.admin]
    deadline = time.monotonic() + BUDGET_SECONDS / 2
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    tried = 0
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        if time.monotonic() > deadline:
            pytest.fail(f"the fuzzing budget ran out after {tried} of {len(operations)} operations")
        _fuzz(operation.as_strategy(generation_mode=mode), [world.auth(actor) for actor in actors])
        tried += 1
    # The run really reached the routes: some requests got through, some were refused by validation or authorization.
    assert statuses.get(2, 0) > 20 and statuses.get(4, 0) > 20, statuses


def _tally(world: World) -> Counter[int]:
    """Counts responses by status class (2 for 2xx, 4 for 4xx...), as the app sends them."""
    statuses: Counter[int] = Counter()

    @world.client.application.after_request
    def count(response: Any) -> Any:
        statuses[response.status_code // 100] += 1
        return response

    return statuses


def _fuzz(strategy: Any, auths: list[dict[str, str]]) -> None:
    @given(case=strategy, auth=st.sampled_from(auths))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: a failure here is reproducible, never flaky
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, auth: dict[str, str]) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS)

    run()
