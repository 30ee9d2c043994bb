"""Credit events over the API (R68–R74): who may record what, refusals as problem+json at their field, never a 500."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.api.conftest import World
from tests.api.test_fuzz_inputs import DATE, TEXT
from workflow.domain.actors import Actor, Role
from workflow.store.tables import CreditRecordRow, ViolationCaseRow

TOMORROW = "2016-06-02"
DISCREDIT = {
    "kind": "discredit",
    "tier": "discredited",
    "effective_from": TOMORROW,
    "ground": "smuggling",
    "reason": "走私违法行为",
}


def _changes(world: World) -> str:
    return f"/api/v1/enterprises/{world.home.enterprise_id}/credit-changes"


def _record(world: World, actor: Actor, **overrides: Any) -> Any:
    return world.call(actor, "POST", _changes(world), json={**DISCREDIT, **overrides})


def _records(world: World) -> int:
    with world.container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CreditRecordRow)) or 0)


def test_r72_the_decider_records_a_discredit_and_the_credit_shows_it_pending_r73(world: World):
    answer = _record(world, world.home.decider)
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert (body["tier"], body["pending_tier"], body["pending_from"]) == ("general", "discredited", TOMORROW)
    assert body["changes"][0]["ground"] == "smuggling" and body["rated"] is False
    read = world.call(world.home.auditor, "GET", f"/api/v1/enterprises/{world.home.enterprise_id}/credit")
    assert read.status_code == 200 and read.json["pending_tier"] == "discredited"


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.ACCEPTOR, Role.AUDITOR, Role.PORT_OFFICER, Role.EXPERT])
def test_r72_other_roles_are_refused_a_credit_change_and_nothing_is_written(world: World, role: Role):
    assert _record(world, world.home.officers[role]).status_code == 403
    assert _records(world) == 0


def test_r72_the_applicant_and_the_admin_are_refused_and_another_districts_decider_finds_nothing(world: World):
    assert _record(world, world.home.applicant).status_code == 403
    assert _record(world, world.admin).status_code == 403
    assert _record(world, world.far.decider).status_code == 404  # outside its district: as if it did not exist
    assert _records(world) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"effective_from": "2016-06-01"}, "effective_from"),
        ({"effective_from": 20160602}, "effective_from"),
        ({"tier": "seriously_discredited"}, "tier"),
        ({"tier": "platinum"}, "tier"),
        ({"ground": "certification_audit"}, "ground"),
        ({"ground": "violation_case"}, "case_id"),
        ({"reason": ""}, "reason"),
        ({"fine": "5000"}, "fine"),
    ],
    ids=["R73-today", "R73-number", "R70-tier", "unknown-tier", "R72-ground", "R74-case", "reason", "R74-no-fines"],
)
def test_refused_changes_name_their_field_and_write_nothing(world: World, overrides: dict[str, Any], field: str):
    answer = _record(world, world.home.head, **overrides)
    assert answer.status_code in (400, 422), answer.json
    assert field in str(answer.json)
    assert _records(world) == 0


def test_r74_a_reviewer_records_a_violation_case_once(world: World):
    path = f"/api/v1/enterprises/{world.home.enterprise_id}/violation-cases"
    body = {"case_no": "厦关缉违字〔2016〕7号", "kind": "refused_quarantine", "decided_on": "2016-05-30"}
    first = world.call(world.home.reviewer, "POST", path, json=body)
    assert first.status_code == 201, first.json
    assert first.json["cases"][0]["decided_on"] == "2016-05-30"
    again = world.call(world.home.reviewer, "POST", path, json=body)
    assert again.status_code == 422 and again.json.get("field") == "case_no", again.json
    assert world.call(world.home.auditor, "POST", path, json={**body, "case_no": "2"}).status_code == 403
    with world.container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ViolationCaseRow)) == 1


def test_an_applicant_reads_its_own_credit_and_not_a_rivals(world: World):
    own = world.call(world.home.applicant, "GET", f"/api/v1/enterprises/{world.home.enterprise_id}/credit")
    assert own.status_code == 200 and own.json["tier"] == "general"
    rival = world.call(world.home.applicant, "GET", f"/api/v1/enterprises/{world.rival.enterprise_id}/credit")
    assert rival.status_code == 404
    assert own.json["records"] == [] and own.json["pending_tier"] is None


FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,  # reproducible: the same examples every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANYTHING = st.one_of(TEXT, st.integers(), st.none(), st.booleans(), DATE)


@st.composite
def change_body(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid codes with hostile values mixed in, so the run reaches the rules as well as the schema."""
    body = {
        "kind": draw(st.one_of(st.sampled_from(["downgrade", "discredit", "restoration", "certification"]), ANYTHING)),
        "tier": draw(st.one_of(st.sampled_from(["discredited", "seriously_discredited", "general"]), ANYTHING)),
        "effective_from": draw(DATE),
        "ground": draw(st.one_of(st.sampled_from(["smuggling", "violation_case", "credit_repaired"]), ANYTHING)),
        "reason": draw(st.one_of(st.just("查实"), TEXT)),
    }
    if draw(st.booleans()):
        body["case_id"] = draw(st.one_of(st.integers(), TEXT, st.sampled_from([1, 2**31, -1])))
    return body


def test_generated_credit_changes_never_answer_5xx_and_a_refused_one_writes_nothing(world: World):
    statuses: Counter[int] = Counter()

    @FUZZ
    @given(body=change_body())
    def run(body: dict[str, Any]) -> None:
        before = _records(world)
        answer = _record(world, world.home.decider, **body)
        statuses[answer.status_code // 100] += 1
        assert answer.status_code < 500, (body, answer.get_json())
        if answer.status_code >= 400:
            assert answer.mimetype == "application/problem+json" and _records(world) == before, body

    run()
    assert statuses[4] > 0, statuses
