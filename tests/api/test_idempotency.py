"""`Idempotency-Key` on every POST: a retry replays the first answer and writes nothing more."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.api.conftest import World
from tests.api.test_lifecycle_over_http import CYTOKINE, granted
from web.idempotency import REPLAYED
from workflow.store.tables import ApplicationRow, DeclarationRow

DRAFT = {"district": "xiamen", "direction": "entry", "lines": [CYTOKINE]}


def _count(world: World, table: type) -> int:
    with world.container.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_every_post_route_honours_the_idempotency_key_one_way_or_the_other(world: World) -> None:
    app = world.client.application
    kinds = {
        rule.rule: getattr(app.view_functions[rule.endpoint], "idempotency", None)
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and rule.rule.startswith("/api/v1")
    }
    assert kinds.pop("/api/v1/tokens") == "never"
    assert kinds and {path: kind for path, kind in kinds.items() if kind not in ("request", "command")} == {}


def test_a_retried_create_replays_the_first_response_and_files_one_application(world: World) -> None:
    headers = {"Idempotency-Key": "erp-7781"}
    first = world.call(world.home.applicant, "POST", "/api/v1/applications", json=DRAFT, headers=headers)
    again = world.call(world.home.applicant, "POST", "/api/v1/applications", json=DRAFT, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers[REPLAYED] == "true"
    assert _count(world, ApplicationRow) == 1


def test_the_same_key_with_another_body_is_refused_and_another_user_may_use_it(world: World) -> None:
    headers = {"Idempotency-Key": "k1"}
    assert (
        world.call(world.home.applicant, "POST", "/api/v1/applications", json=DRAFT, headers=headers).status_code == 201
    )
    other = {**DRAFT, "direction": "exit"}
    response = world.call(world.home.applicant, "POST", "/api/v1/applications", json=other, headers=headers)
    assert response.status_code == 422 and response.json["field"] == "Idempotency-Key"
    theirs = world.call(world.rival.applicant, "POST", "/api/v1/applications", json=DRAFT, headers=headers)
    assert theirs.status_code == 201 and REPLAYED not in theirs.headers


def test_a_failed_request_gives_its_key_back(world: World) -> None:
    headers = {"Idempotency-Key": "k2"}
    bad = world.call(world.home.applicant, "POST", "/api/v1/applications", json={**DRAFT, "lines": []}, headers=headers)
    assert bad.status_code == 422
    good = world.call(world.home.applicant, "POST", "/api/v1/applications", json=DRAFT, headers=headers)
    assert good.status_code == 201


def test_a_retried_declaration_is_written_off_once(world: World) -> None:
    certificate = granted(world)["certificate"]
    body = {
        "declaration_no": "DEC0000000042",
        "certificate_no": certificate["certificate_no"],
        "declared_on": "2016-06-01",
        "direction": "entry",
        "lines": [{"line_no": 1, "qty": "10"}],
    }
    headers = {"Idempotency-Key": "port-42"}
    first = world.call(world.home.applicant, "POST", "/api/v1/declarations", json=body, headers=headers)
    again = world.call(world.home.applicant, "POST", "/api/v1/declarations", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json["replayed"] is True and again.headers[REPLAYED] == "true"
    assert {**again.json, "replayed": False} == first.json
    assert _count(world, DeclarationRow) == 1


def test_a_malformed_key_is_a_422_naming_the_header(world: World) -> None:
    response = world.call(
        world.home.applicant, "POST", "/api/v1/applications", json=DRAFT, headers={"Idempotency-Key": "no spaces"}
    )
    assert response.status_code == 422 and response.json["field"] == "Idempotency-Key"


def _batch(certificate_no: str, *numbers: str) -> dict:
    line = {"line_no": 1, "qty": "5"}
    return {
        "declarations": [
            {"declaration_no": n, "certificate_no": certificate_no, "declared_on": "2016-06-01", "direction": "entry",
             "lines": [line]}
            for n in numbers
        ]
    }  # fmt: skip


def test_a_retried_batch_is_written_off_once_and_answers_in_the_order_sent(world: World) -> None:
    certificate = granted(world)["certificate"]
    body = _batch(certificate["certificate_no"], "DEC-B-2", "DEC-B-1")
    headers = {"Idempotency-Key": "feed-1"}
    first = world.call(world.home.applicant, "POST", "/api/v1/declarations/batch", json=body, headers=headers)
    again = world.call(world.home.applicant, "POST", "/api/v1/declarations/batch", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert [item["declaration_no"] for item in first.json["declarations"]] == ["DEC-B-2", "DEC-B-1"]
    assert again.json == {**first.json, "replayed": True} and again.headers[REPLAYED] == "true"
    assert _count(world, DeclarationRow) == 2


def test_a_batch_with_one_bad_declaration_is_refused_whole_and_the_error_names_it(world: World) -> None:
    certificate = granted(world)["certificate"]
    body = _batch(certificate["certificate_no"], "DEC-C-1", "DEC-C-2")
    body["declarations"][1]["certificate_no"] = "NO-SUCH"
    response = world.call(world.home.applicant, "POST", "/api/v1/declarations/batch", json=body)
    assert response.status_code == 422 and response.json["field"] == "declarations[1].certificate_no"
    empty = world.call(world.home.applicant, "POST", "/api/v1/declarations/batch", json={"declarations": []})
    assert empty.status_code == 422 and "declarations" in str(empty.json)
    assert _count(world, DeclarationRow) == 0
