"""Every input checked at the API's door: each bad input is a 4xx problem naming the field, and writes nothing.

The cases are the ones a new user found answering 500 or accepted (issue 13): NUL and other control characters, text
over its limit, out-of-range and JSON-number quantities, deep or non-JSON bodies, huge integers, a NUL in a Basic user
name, and a reused idempotency key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import CYTOKINE, file_draft, granted
from web.security import JSON_MAX_BYTES, JSON_MAX_DEPTH
from workflow.domain import inputs
from workflow.store.tables import (
    ApiTokenRow,
    ApplicationLineRow,
    ApplicationRow,
    AuditEventRow,
    DeclarationRow,
    LedgerEntryRow,
    ReversalRow,
)

WRITTEN = (ApplicationRow, ApplicationLineRow, DeclarationRow, LedgerEntryRow, ReversalRow, AuditEventRow, ApiTokenRow)
CERTIFICATE = "{certificate_no}"  # filled in with the granted certificate's number


def written(world: World) -> dict[str, int]:
    """Rows of every table a request could write, audit events included."""
    with world.container.sessions() as session:
        return {table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0 for table in WRITTEN}


def application(**line: Any) -> dict[str, Any]:
    return {"district": "xiamen", "direction": "entry", "lines": [{**CYTOKINE, **line}]}


def declaration(**changes: Any) -> dict[str, Any]:
    body = {
        "declaration_no": "DEC-IN-1",
        "certificate_no": CERTIFICATE,
        "declared_on": "2016-06-01",
        "direction": "entry",
        "lines": [{"line_no": 1, "qty": "1"}],
    }
    return body | changes


def precheck(**line: Any) -> dict[str, Any]:
    return {"direction": "entry", "applicant": {}, "lines": [{**CYTOKINE, **line}]}


def qty(value: Any) -> dict[str, Any]:
    return declaration(lines=[{"line_no": 1, "qty": value}])


APPLICATIONS, DECLARATIONS, PRECHECK = "/api/v1/applications", "/api/v1/declarations", "/api/v1/precheck"
BAD_BODIES = [
    # quantities: JSON strings only, above 0, below the ceiling, at most the stored scale
    pytest.param(APPLICATIONS, application(quantity=5), "lines.0.quantity", id="application-quantity-json-number"),
    pytest.param(APPLICATIONS, application(quantity="1e400"), "lines.0.quantity", id="application-quantity-1e400"),
    pytest.param(APPLICATIONS, application(quantity="1e30"), "lines.0.quantity", id="application-quantity-1e30"),
    pytest.param(APPLICATIONS, application(quantity="0.00001"), "lines.0.quantity", id="application-quantity-0.00001"),
    pytest.param(
        APPLICATIONS, application(quantity="0.123456789"), "lines.0.quantity", id="application-quantity-9-places"
    ),
    pytest.param(
        APPLICATIONS, application(quantity="1000000000000"), "lines.0.quantity", id="application-quantity-ceiling"
    ),
    pytest.param(PRECHECK, precheck(quantity="1e400"), "lines.0.quantity", id="precheck-quantity-1e400"),
    pytest.param(PRECHECK, precheck(quantity="0.00001"), "lines.0.quantity", id="precheck-quantity-0.00001"),
    pytest.param(PRECHECK, precheck(quantity=1e30), "lines.0.quantity", id="precheck-quantity-1e30"),
    pytest.param(DECLARATIONS, qty(1), "lines.0.qty", id="declaration-qty-json-number"),
    pytest.param(DECLARATIONS, qty("1e30"), "lines.0.qty", id="declaration-qty-1e30"),
    pytest.param(DECLARATIONS, qty("0.123456789"), "lines.0.qty", id="declaration-qty-9-places"),
    pytest.param(DECLARATIONS, qty("0"), "lines.0.qty", id="declaration-qty-zero"),
    pytest.param(DECLARATIONS, qty("NaN"), "lines.0.qty", id="declaration-qty-nan"),
    # text: no control characters, one maximum length per field
    pytest.param(APPLICATIONS, application(name_zh="IL\x006"), "lines.0.name_zh", id="application-name-nul"),
    pytest.param(APPLICATIONS, application(unit="支\x1b"), "lines.0.unit", id="application-unit-escape"),
    pytest.param(APPLICATIONS, application(name_zh="x" * 1200), "lines.0.name_zh", id="application-name-1200"),
    pytest.param(APPLICATIONS, application(unit="x" * (inputs.UNIT + 1)), "lines.0.unit", id="application-unit-long"),
    pytest.param(
        APPLICATIONS, application(specification="x" * 100_000), "lines.0.specification", id="application-spec-long"
    ),
    pytest.param(PRECHECK, precheck(name_zh="a\x00"), "lines.0.name_zh", id="precheck-name-nul"),
    pytest.param(DECLARATIONS, declaration(port="港\x00"), "port", id="declaration-port-nul"),
    pytest.param(DECLARATIONS, declaration(port="x" * 41), "port", id="declaration-port-long"),
    pytest.param(DECLARATIONS, declaration(certificate_no="X\x00"), "certificate_no", id="declaration-cert-nul"),
    # integers: within their column
    pytest.param(
        DECLARATIONS, declaration(lines=[{"line_no": 10**20, "qty": "1"}]), "lines.0.line_no", id="line-no-huge"
    ),
]


@pytest.fixture
def certified(world: World) -> dict[str, Any]:
    """A granted application of the home applicant, so declarations have a certificate to cite."""
    return granted(world)["certificate"]


def _fill(body: dict[str, Any], certificate: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(body).replace(CERTIFICATE, certificate["certificate_no"]))


@pytest.mark.parametrize(("path", "body", "field"), BAD_BODIES)
def test_a_bad_body_is_a_422_problem_naming_the_field_and_writes_nothing(
    world: World, certified: dict[str, Any], path: str, body: dict[str, Any], field: str
) -> None:
    before = written(world)
    response = world.call(world.home.applicant, "POST", path, json=_fill(body, certified))
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert response.json["field"] == field and response.json["errors"][0]["field"] == field, response.json
    assert written(world) == before


def test_a_reason_or_a_deficiency_over_its_limit_is_refused_before_any_transition(world: World) -> None:
    draft = file_draft(world)["id"]
    before = written(world)
    withdraw = world.call(
        world.home.applicant, "POST", f"{APPLICATIONS}/{draft}/withdraw", json={"reason": "x" * 20_000}
    )
    notice = world.call(
        world.home.acceptor,
        "POST",
        f"{APPLICATIONS}/{draft}/request-correction",
        json={"deficiencies": ["x" * (inputs.DETAIL + 1)]},
    )
    for response, field in ((withdraw, "reason"), (notice, "deficiencies.0")):
        assert response.status_code == 422 and response.json["field"] == field, response.json
    assert written(world) == before


def test_a_correction_notice_longer_than_the_form_allows_is_refused(world: World) -> None:
    draft = file_draft(world)["id"]
    many = ["x" * inputs.DETAIL] * (inputs.NOTICE // inputs.DETAIL + 1)
    response = world.call(
        world.home.acceptor, "POST", f"{APPLICATIONS}/{draft}/request-correction", json={"deficiencies": many}
    )
    assert response.status_code == 422 and response.json["field"] == "deficiencies", response.json


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_json_route_never_reads_a_body_sent_as_another_type(world: World, content_type: str | None) -> None:
    before = written(world)
    headers = {"Content-Type": content_type} if content_type else {}
    response = world.call(world.home.applicant, "POST", APPLICATIONS, data=json.dumps(application()), headers=headers)
    assert response.status_code == 415 and response.json["field"] == "body", response.get_json()
    assert response.mimetype == "application/problem+json"
    assert written(world) == before


@pytest.mark.parametrize("depth", [JSON_MAX_DEPTH + 1, 100_000])
def test_deeply_nested_json_is_refused_even_before_signing_in(world: World, depth: int) -> None:
    before = written(world)
    body = "[" * depth + "]" * depth
    response = world.client.post("/api/v1/tokens", data=body, content_type="application/json")
    assert response.status_code == 422 and response.json["field"] == "body", response.get_json()
    signed_in = world.call(world.home.applicant, "POST", APPLICATIONS, data=body, content_type="application/json")
    assert signed_in.status_code == 422 and signed_in.json["field"] == "body"
    assert written(world) == before


def test_brackets_inside_strings_are_not_nesting_so_a_flat_body_full_of_them_is_taken(world: World) -> None:
    body = json.dumps(application(specification="[{" * JSON_MAX_DEPTH))
    response = world.call(world.home.applicant, "POST", APPLICATIONS, data=body, content_type="application/json")
    assert response.status_code == 201, response.get_json()


def test_a_json_body_over_the_size_limit_is_413(world: World) -> None:
    body = json.dumps(application(specification="x" * JSON_MAX_BYTES))
    response = world.client.post("/api/v1/tokens", data=body, content_type="application/json")
    assert response.status_code == 413 and response.mimetype == "application/problem+json"


def test_json_that_is_not_json_at_all_is_a_400_naming_the_body(world: World) -> None:
    response = world.call(
        world.home.applicant, "POST", APPLICATIONS, data=b"{not json", content_type="application/json"
    )
    assert response.status_code == 400 and response.json["field"] == "body"


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/applications?before=99999999999999999999",
        "/api/v1/declarations?before=99999999999999999999999",
        "/api/v1/applications?limit=99999999999999999999",
        "/api/v1/applications?state=%00",
        "/api/v1/enterprises?enterprise_id=99999999999999999999",
    ],
)
def test_a_huge_or_unprintable_query_filter_is_422_not_500(world: World, query: str) -> None:
    response = world.call(world.home.applicant, "GET", query)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json" and response.json["field"]


def _basic(username: bytes, password: bytes = b"secret") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(username + b":" + password).decode()}


@pytest.mark.parametrize("username", [b"a\x00b", b"\x1b[31m", "名".encode() * 100])
def test_a_basic_user_name_no_account_could_have_is_401_and_recorded_printably(world: World, username: bytes) -> None:
    for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/tokens")):
        response = world.client.open(path, method=method, headers=_basic(username), json={})
        assert response.status_code == 401, response.get_json()
    with world.container.sessions() as session:
        names = session.scalars(select(AuditEventRow.actor_name).where(AuditEventRow.trigger == "login_failed")).all()
    assert names and all(inputs.bad_character(name) is None for name in names)


def test_a_nul_in_the_user_agent_of_a_failed_sign_in_is_recorded_printably(world: World) -> None:
    headers = {**_basic(b"nobody"), "User-Agent": "curl\x00evil"}
    assert world.client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_reused_idempotency_key_is_the_same_422_on_every_route_and_names_nothing_internal(
    world: World, certified: dict[str, Any]
) -> None:
    body = _fill(declaration(), certified)
    other = _fill(declaration(lines=[{"line_no": 1, "qty": "2"}]), certified)
    problems = []
    for path, first, second in ((APPLICATIONS, application(), application(quantity="7")), (DECLARATIONS, body, other)):
        headers = {"Idempotency-Key": f"reuse-{len(problems)}"}  # a key is the caller's, whatever the route
        assert world.call(world.home.applicant, "POST", path, json=first, headers=headers).status_code == 201
        before = written(world)
        response = world.call(world.home.applicant, "POST", path, json=second, headers=headers)
        assert written(world) == before
        problems.append((response.status_code, response.json["field"], response.json["detail"]))
    assert problems[0] == problems[1], problems
    status, field, detail = problems[0]
    assert status == 422 and field == "Idempotency-Key"
    assert "api:" not in detail and "reuse-" not in detail and str(world.home.applicant.user_id) not in detail


@pytest.mark.parametrize("token", ["sgt_\x00", "x" * 10_000, "\ud800"])
def test_a_bearer_token_no_one_was_issued_is_401_whatever_it_holds(world: World, token: str) -> None:
    header = "Bearer " + token.encode("utf-8", "surrogatepass").decode("latin-1")
    assert world.client.get("/api/v1/me", headers={"Authorization": header}).status_code == 401
