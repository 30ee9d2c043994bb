"""Biosafety capability (R9(b), R14, R62): pure comparisons, the grant guard, the profile data, the pre-check."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from config.profiles import load_policies
from workflow.domain.actors import Actor, Role
from workflow.domain.biosafety import LabDeficiency, LabDetails, Laboratory, check_lines
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.goods import GoodsCategory, GoodsLine, ProteinPurity, RiskGrade
from workflow.domain.guards import DecisionFacts
from workflow.domain.lifecycle import AppState
from workflow.domain.model import Application, StatutoryClock
from workflow.service.lab_checks import LabsKnown, capability
from workflow.service.precheck import parse_precheck_input, run_precheck

XIAMEN = load_policies()["xiamen-2016"]
RULE = XIAMEN.biosafety
DAY = date(2016, 6, 1)
ENTERPRISE = 9


def strain(pathogen_class: int, lab_id: int | None = 1) -> GoodsLine:
    return GoodsLine("菌株", "strain", GoodsCategory.MICROORGANISM, Decimal(1), "株", pathogen_class=pathogen_class,
                     lab_id=lab_id)  # fmt: skip


def lab(level: int, **changes: object) -> Laboratory:
    valid = {"valid_from": date(2015, 1, 1), "valid_until": date(2020, 12, 31)}
    made = Laboratory(1, ENTERPRISE, "xiamen", "P 实验室", "", level, **valid, evidence_sha256="0" * 64,
                      verified_on=date(2015, 2, 1))  # fmt: skip
    return replace(made, **changes)


def found(line: GoodsLine, *labs: Laboratory, on: date = DAY) -> list[LabDeficiency]:
    return [finding.deficiency for finding in check_lines([line], {x.id: x for x in labs}, ENTERPRISE, RULE, on)]


def test_r62_a_class_2_pathogen_going_to_a_bsl_1_lab_is_a_mismatch() -> None:
    assert found(strain(2), lab(1)) == [LabDeficiency.LEVEL_TOO_LOW]


@pytest.mark.parametrize(
    ("pathogen_class", "level", "expected"),
    [
        pytest.param(2, 3, [LabDeficiency.NOT_ACCREDITED], id="R14-bsl3-unaccredited"),
        pytest.param(3, 2, [], id="R62-class3-bsl2-matches"),
        pytest.param(4, 1, [LabDeficiency.LEVEL_TOO_LOW], id="R62-microorganism-category-needs-bsl2"),
        pytest.param(1, 3, [LabDeficiency.LEVEL_TOO_LOW, LabDeficiency.NOT_ACCREDITED], id="R62-R14-class1-needs-bsl4"),
    ],
)
def test_the_lab_level_and_accreditation_are_compared_with_the_profiles_minimum(
    pathogen_class: int, level: int, expected: list[LabDeficiency]
) -> None:
    assert found(strain(pathogen_class), lab(level)) == expected


def test_r14_an_accredited_bsl_3_lab_matches_a_class_2_pathogen() -> None:
    assert found(strain(2), lab(3, accreditation_body="CNAS", accreditation_no="BL0001")) == []


def test_r14_a_pathogen_line_must_name_a_registered_lab() -> None:
    assert found(strain(3, lab_id=None)) == [LabDeficiency.NO_LAB]


def test_r9_the_lab_must_be_the_applicants_own_and_verified() -> None:
    assert found(strain(3), lab(2, enterprise_id=ENTERPRISE + 1)) == [LabDeficiency.FOREIGN_LAB]
    assert found(strain(3), lab(2, verified_on=None)) == [LabDeficiency.NOT_VERIFIED]


def test_r14_the_qualification_must_be_valid_on_the_decisions_date() -> None:
    assert found(strain(3), lab(2), on=date(2020, 12, 31)) == []
    assert found(strain(3), lab(2), on=date(2021, 1, 1)) == [LabDeficiency.NOT_VALID]


def test_goods_without_a_pathogen_need_no_lab() -> None:
    cytokine = GoodsLine("IL-6", "IL-6", GoodsCategory.BIOLOGICAL_PRODUCT, Decimal(1), "支",
                         protein_purity=ProteinPurity.PURIFIED)  # fmt: skip
    assert found(cytokine) == []
    assert capability([cytokine], LabsKnown({}, ENTERPRISE, DAY), RULE).result is None


def test_the_minimum_level_is_the_profiles_data_not_code() -> None:
    stricter = replace(RULE, minimum_level_by_class={**RULE.minimum_level_by_class, 3: 3})
    line = strain(3)
    assert check_lines([line], {1: lab(2)}, ENTERPRISE, RULE, DAY) == ()
    assert [f.deficiency for f in check_lines([line], {1: lab(2)}, ENTERPRISE, stricter, DAY)] == [
        LabDeficiency.LEVEL_TOO_LOW
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": " "}, "name", id="name"),
        pytest.param({"bsl_level": 5}, "bsl_level", id="level"),
        pytest.param({"accreditation_body": "CNAS"}, "accreditation_no", id="half-an-accreditation"),
        pytest.param({"valid_from": date(2020, 1, 1), "valid_until": date(2019, 1, 1)}, "valid_until", id="dates"),
    ],
)
def test_lab_details_refuse_inconsistent_input_at_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        LabDetails(**{"name": "P2", "address": "", "bsl_level": 2, **changes})  # type: ignore[arg-type]
    assert refused.value.field == field


def under_review(findings: tuple[str, ...] | None) -> Application:
    return Application(id=7, state=AppState.UNDER_REVIEW, enterprise_id=ENTERPRISE, district="xiamen",
                       lines=[strain(2)], acceptor_id=1, reviewer_id=2, clock=StatutoryClock(accepted_on=DAY),
                       decision_facts=DecisionFacts(False, lab_findings=findings))  # fmt: skip


@pytest.mark.parametrize("findings", [None, ("line 1: lab #1 is below BSL-3, the level these goods need (R62)",)])
def test_r62_the_grant_guard_refuses_a_mismatch_or_labs_not_read(findings: tuple[str, ...] | None) -> None:
    application = under_review(findings)
    with pytest.raises(GuardFailed) as refused:
        application.grant(Actor(3, Role.DECIDER, district="xiamen"), RiskGrade.A, "granted")
    assert refused.value.rule_id == "R62"
    assert application.state is AppState.UNDER_REVIEW and application.pending == []


def test_r62_the_grant_guard_lets_a_matching_lab_through() -> None:
    application = under_review(())
    application.grant(Actor(3, Role.DECIDER, district="xiamen"), RiskGrade.A, "granted")
    assert application.state is AppState.GRANTED


def test_r9_r14_r62_the_precheck_names_the_mismatch_with_its_rule_ids() -> None:
    raw = {"direction": "entry", "applicant": {}, "lines": [
        {"name_zh": "结核分枝杆菌", "category": "microorganism", "quantity": "1", "unit": "株", "pathogen_class": 2,
         "lab_id": 1}]}  # fmt: skip
    report = run_precheck(parse_precheck_input(raw), XIAMEN, labs=LabsKnown({1: lab(1)}, ENTERPRISE, DAY))
    answer = report["overall"]["biosafety"]
    assert answer["result"] is False and answer["rule_ids"] == ["R9", "R14", "R62"]
    assert "below BSL-3" in answer["reason"] and "line 1" in answer["reason"]
    raw["lines"][0].pop("lab_id")  # type: ignore[attr-defined]
    stranger = run_precheck(parse_precheck_input(raw), XIAMEN)["overall"]["biosafety"]  # a file, no labs known
    assert stranger["result"] is False and "name no registered user lab" in stranger["reason"]
