"""The reform's rules against DOMAIN.md's fixtures FX01–FX19, scenarios S-P1 and S-C1, and the R-numbered rules."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.profiles import load_policies
from workflow.domain import rules
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.goods import (
    Direction,
    Exclusion,
    GoodsCategory,
    GoodsLine,
    ProteinPurity,
    RegulatedAs,
    RiskGrade,
    WriteOffMode,
)
from workflow.domain.policy import AssessorLevel, CreditTier, Policy, ScopeRule

POLICIES = load_policies()
XIAMEN, LEGACY, GACC = POLICIES["xiamen-2016"], POLICIES["legacy-2015"], POLICIES["gacc-2026"]
ENTRY, EXIT = Direction.ENTRY, Direction.EXIT
A, B, C, D = RiskGrade.A, RiskGrade.B, RiskGrade.C, RiskGrade.D
SINGLE, MULTIPLE = WriteOffMode.SINGLE, WriteOffMode.MULTIPLE
G = GoodsCategory


def goods(name: str, category: GoodsCategory | None, **facts: Any) -> GoodsLine:
    return GoodsLine(name_zh=name, name_en=name, category=category, quantity=Decimal(10), unit="unit", **facts)


# DOMAIN.md §(g): each fixture's direction and the facts that grade it.
FIXTURES: dict[str, tuple[Direction, GoodsLine]] = {
    "FX01": (EXIT, goods("Phase III human serum", G.BLOOD, involves_hgr=True)),
    "FX02": (ENTRY, goods("untested human plasma", G.BLOOD, may_contain_unknown_agent=True)),
    "FX03": (ENTRY, goods("M. tuberculosis H37Rv", G.MICROORGANISM, pathogen_class=2, bsl_level=3)),
    "FX04": (ENTRY, goods("E. coli O157:H7", G.MICROORGANISM, pathogen_class=3, bsl_level=2)),
    "FX05": (ENTRY, goods("E. coli K-12 DH5α", None, exclusion=Exclusion.NON_PATHOGENIC_MEDICAL_MICROBE)),
    "FX06": (ENTRY, goods("SARS-CoV-2 RNA standard", G.BIOLOGICAL_PRODUCT, nucleic_acid_of_pathogen_class=2)),
    "FX07": (ENTRY, goods("P. falciparum 3D7", G.MICROORGANISM, is_parasite=True)),
    "FX08": (ENTRY, goods("botulinum neurotoxin A", G.BIOLOGICAL_PRODUCT, is_pathogen_toxin=True)),
    "FX09": (ENTRY, goods("HEK293 from ATCC", G.HUMAN_TISSUE, is_commercial_cell_line=True)),
    "FX10": (ENTRY, goods("recombinant human IL-6", G.BIOLOGICAL_PRODUCT, protein_purity=ProteinPurity.PURIFIED)),
    "FX11": (ENTRY, goods("research monoclonal antibody", G.BIOLOGICAL_PRODUCT, protein_purity=ProteinPurity.PURIFIED)),
    "FX12": (ENTRY, goods("influenza vaccine", G.BIOLOGICAL_PRODUCT, regulated_as=RegulatedAs.DRUG,
                          has_domestic_approval=True)),
    "FX13": (ENTRY, goods("HIV antibody IVD kit", G.BIOLOGICAL_PRODUCT, regulated_as=RegulatedAs.MEDICAL_DEVICE,
                          has_domestic_approval=True)),
    "FX14": (ENTRY, goods("human albumin 20%", G.BLOOD_PRODUCT, regulated_as=RegulatedAs.DRUG,
                          has_domestic_approval=True, protein_purity=ProteinPurity.PURIFIED)),
    "FX15": (EXIT, goods("rabies vaccine", G.BIOLOGICAL_PRODUCT, regulated_as=RegulatedAs.DRUG,
                         has_domestic_approval=True)),
    "FX16": (ENTRY, goods("wastewater degrading consortium", G.MICROORGANISM, is_environmental_agent=True)),
    "FX17": (ENTRY, goods("recombinant insulin pens", G.BIOLOGICAL_PRODUCT, regulated_as=RegulatedAs.DRUG,
                          has_foreign_approval=True, is_self_use_one_course=True)),
    "FX18": (ENTRY, goods("bone-marrow haematopoietic stem cells", G.HUMAN_TISSUE)),
    "FX19": (ENTRY, goods("heparin sodium API", None, exclusion=Exclusion.HEPARIN)),
}  # fmt: skip

# grade, validity months, write-off mode, follow-up; None = not special goods or exempt (no certificate).
Expected = tuple[RiskGrade, int, WriteOffMode, bool] | None
A_ROW: Expected = (A, 3, SINGLE, True)
B_ROW: Expected = (B, 6, MULTIPLE, True)
C_ROW: Expected = (C, 12, MULTIPLE, False)
D_ROW: Expected = (D, 12, MULTIPLE, False)
XIAMEN_TABLE: dict[str, Expected] = {
    "FX01": A_ROW, "FX02": A_ROW, "FX03": A_ROW, "FX04": B_ROW, "FX05": None, "FX06": B_ROW, "FX07": B_ROW,
    "FX08": B_ROW, "FX09": C_ROW, "FX10": C_ROW, "FX11": C_ROW, "FX12": D_ROW, "FX13": D_ROW, "FX14": D_ROW,
    "FX15": D_ROW, "FX16": A_ROW, "FX17": None, "FX18": A_ROW, "FX19": None,
}  # fmt: skip
# The table's 2025+ column: drugs, devices and environmental agents leave the regime (R5).
GACC_TABLE: dict[str, Expected] = XIAMEN_TABLE | dict.fromkeys(("FX12", "FX13", "FX14", "FX15", "FX16"))


def outcome(fixture_id: str, policy: Policy) -> Expected:
    direction, line = FIXTURES[fixture_id]
    if not rules.scope(line, direction, policy).result:
        return None
    grade = rules.grade_line(line, direction, policy).result
    return (
        grade,
        rules.validity_months(grade, policy).result,
        rules.write_off_mode(grade, policy).result,
        rules.follow_up_required(grade, direction, policy).result,
    )


# --- FX01–FX19 under both profiles --------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture_id", sorted(FIXTURES))
def test_fixture_scope_grade_validity_write_off_and_follow_up_follow_the_domain_table_under_xiamen_2016(
    fixture_id: str,
) -> None:
    assert outcome(fixture_id, XIAMEN) == XIAMEN_TABLE[fixture_id]


@pytest.mark.parametrize("fixture_id", sorted(FIXTURES))
def test_fixture_follows_the_2025_column_of_the_domain_table_under_gacc_2026(fixture_id: str) -> None:
    assert outcome(fixture_id, GACC) == GACC_TABLE[fixture_id]


@pytest.mark.parametrize("fixture_id", sorted(FIXTURES))
def test_fixture_keeps_its_grade_but_every_certificate_is_single_use_under_legacy_2015(fixture_id: str) -> None:
    expected = XIAMEN_TABLE[fixture_id]
    got = outcome(fixture_id, LEGACY)
    assert (got and got[:2]) == (expected and expected[:2])
    assert got is None or got[2] is SINGLE


@pytest.mark.parametrize("policy", [XIAMEN, GACC], ids=lambda p: p.id)
def test_fx17_insulin_carried_for_one_treatment_course_is_exempt_under_r51(policy: Policy) -> None:
    direction, line = FIXTURES["FX17"]
    decision = rules.scope(line, direction, policy)
    assert decision.result is False
    assert decision.rule_ids == ("R51",)


@pytest.mark.parametrize("fixture_id", ["FX05", "FX19"])
def test_fx05_competent_cells_and_fx19_heparin_are_not_special_goods_under_r4(fixture_id: str) -> None:
    direction, line = FIXTURES[fixture_id]
    decision = rules.scope(line, direction, XIAMEN)
    assert decision.result is False
    assert decision.rule_ids == ("R4",)
    assert decision.reason


@pytest.mark.parametrize("fixture_id", ["FX12", "FX13", "FX14", "FX15", "FX16"])
def test_approved_drugs_devices_and_environmental_agents_leave_the_regime_by_r5_under_gacc_2026(
    fixture_id: str,
) -> None:
    direction, line = FIXTURES[fixture_id]
    assert rules.scope(line, direction, GACC).rule_ids == ("R5",)
    assert rules.scope(line, direction, XIAMEN).result is True


def test_r5_keeps_an_imported_drug_without_a_chinese_approval_in_scope_but_lets_an_export_with_a_foreign_one_out() -> (
    None
):
    trial_drug = goods("trial vaccine", G.BIOLOGICAL_PRODUCT, regulated_as=RegulatedAs.DRUG, has_foreign_approval=True)
    assert rules.scope(trial_drug, ENTRY, GACC).result is True
    assert rules.scope(trial_drug, EXIT, GACC).result is False


def test_r5_non_pathogenic_medical_microbe_leaves_the_regime_under_gacc_2026_but_is_grade_c_under_xiamen_2016() -> None:
    probiotic = goods("Lactobacillus strain", G.MICROORGANISM)
    assert rules.scope(probiotic, ENTRY, GACC).rule_ids == ("R5",)
    assert rules.grade_line(probiotic, ENTRY, XIAMEN).result is C


def test_fx18_stem_cells_for_transplant_are_grade_a_as_entry_human_tissue_under_r28() -> None:
    direction, line = FIXTURES["FX18"]
    decision = rules.grade_line(line, direction, XIAMEN)
    assert decision.result is A
    assert decision.rule_ids == ("R27", "R28")


def test_fx14_approved_albumin_is_grade_d_by_r31_although_it_is_also_a_purified_protein() -> None:
    direction, line = FIXTURES["FX14"]
    decision = rules.grade_line(line, direction, XIAMEN)
    assert decision.result is D
    assert "a fully lysed or purified protein" in decision.inputs["criteria_met"]  # type: ignore[operator]


def test_fx02_untested_plasma_meets_a_and_b_criteria_and_takes_the_higher_grade_a() -> None:
    direction, line = FIXTURES["FX02"]
    decision = rules.grade_line(line, direction, XIAMEN)
    assert decision.result is A
    assert len(decision.inputs["criteria_met"]) >= 2  # type: ignore[arg-type]


def test_a_line_meeting_only_the_d_criterion_takes_the_next_higher_grade_c_when_a_profile_has_no_d() -> None:
    approved_in_scope = goods("approved reagent", G.BIOLOGICAL_PRODUCT, regulated_as=RegulatedAs.DRUG,
                              has_domestic_approval=True)  # fmt: skip
    no_r5 = _without_r5(GACC)
    decision = rules.grade_line(approved_in_scope, ENTRY, no_r5)
    assert decision.result is C
    assert "no grade D" in decision.reason


def _without_r5(policy: Policy) -> Policy:
    return replace(policy, scope=ScopeRule(False, False, False))


def test_grading_an_out_of_scope_line_is_refused_with_the_scope_rule() -> None:
    direction, line = FIXTURES["FX19"]
    with pytest.raises(GuardFailed) as refused:
        rules.grade_line(line, direction, XIAMEN)
    assert refused.value.rule_id == "R4"


def test_every_decision_carries_rule_ids_and_a_one_line_reason() -> None:
    for direction, line in FIXTURES.values():
        decision = rules.scope(line, direction, XIAMEN)
        assert decision.rule_ids
        assert decision.reason
        assert "\n" not in decision.reason


# --- R33: the highest line grades the application -----------------------------------------------------------------


def test_r33_the_application_takes_the_highest_grade_among_its_lines() -> None:
    lines = [FIXTURES["FX10"][1], FIXTURES["FX04"][1], FIXTURES["FX09"][1]]
    decision = rules.grade_application(lines, ENTRY, XIAMEN)
    assert decision.result is B
    assert "R33" in decision.rule_ids
    assert "line 2" in decision.reason
    assert decision.inputs["line_grades"] == (C, B, C)


def test_r33_one_grade_a_line_makes_the_whole_application_grade_a() -> None:
    lines = [FIXTURES["FX10"][1], FIXTURES["FX02"][1]]
    assert rules.grade_application(lines, ENTRY, XIAMEN).result is A


def test_r33_an_application_without_lines_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        rules.grade_application([], ENTRY, XIAMEN)


# --- R36–R37: validity ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued_on", "grade", "valid_until"),
    [
        (date(2016, 3, 1), A, date(2016, 6, 1)),  # R37's own example
        (date(2016, 3, 1), B, date(2016, 9, 1)),  # S-W3
        (date(2016, 1, 31), C, date(2017, 1, 31)),
        (date(2016, 11, 30), A, date(2017, 2, 28)),
        (date(2016, 1, 31), A, date(2016, 4, 30)),
        (date(2016, 8, 31), B, date(2017, 2, 28)),
        (date(2016, 8, 31), A, date(2016, 11, 30)),
        (date(2015, 11, 30), A, date(2016, 2, 29)),
        (date(2016, 2, 29), A, date(2016, 5, 29)),
        (date(2016, 2, 29), C, date(2017, 2, 28)),
        (date(2016, 2, 29), D, date(2017, 2, 28)),
        (date(2016, 12, 31), A, date(2017, 3, 31)),
    ],
    ids=lambda value: str(value),
)
def test_r36_r37_validity_ends_on_the_matching_day_or_the_month_end(
    issued_on: date, grade: RiskGrade, valid_until: date
) -> None:
    decision = rules.validity_until(issued_on, grade, XIAMEN)
    assert decision.result == valid_until
    assert decision.rule_ids == ("R36", "R37")


def test_r75_grade_d_has_no_validity_under_gacc_2026() -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.validity_until(date(2026, 9, 1), D, GACC)
    assert refused.value.field == "grade"


@given(
    issued_on=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    grade=st.sampled_from(sorted(XIAMEN.grades)),
)
def test_r37_property_validity_ends_after_issue_and_within_one_month_more_than_the_period(
    issued_on: date, grade: RiskGrade
) -> None:
    until = rules.validity_until(issued_on, grade, XIAMEN).result
    months = XIAMEN.validity_months[grade]
    assert issued_on < until
    assert until <= issued_on + timedelta(days=31 * (months + 1))
    assert until.day == min(issued_on.day, monthrange(until.year, until.month)[1])  # clamped only at a month-end


# --- R40–R41: write-off mode -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("grade", "mode"), [(A, SINGLE), (B, MULTIPLE), (C, MULTIPLE), (D, MULTIPLE)])
def test_r40_r41_grade_a_is_single_use_and_b_c_d_are_written_off_in_batches_under_xiamen_2016(
    grade: RiskGrade, mode: WriteOffMode
) -> None:
    assert rules.write_off_mode(grade, XIAMEN).result is mode


@pytest.mark.parametrize("grade", [A, B, C, D])
def test_legacy_2015_every_certificate_is_single_use_before_r66(grade: RiskGrade) -> None:
    decision = rules.write_off_mode(grade, LEGACY)
    assert decision.result is SINGLE
    assert "legacy-2015" in decision.reason


# --- R60: first-time ------------------------------------------------------------------------------------------------


def test_r60_a_product_the_applicant_already_holds_a_certificate_for_is_not_first_time() -> None:
    identity = FIXTURES["FX10"][1].identity
    assert rules.is_first_time(identity, [identity]).result is False
    assert rules.is_first_time(identity, []).result is True


def test_r60_another_user_lab_makes_the_same_goods_a_new_product_identity() -> None:
    held = goods("IL-6", G.BIOLOGICAL_PRODUCT, user_lab="lab 1").identity
    asked = goods("IL-6", G.BIOLOGICAL_PRODUCT, user_lab="lab 2").identity
    assert rules.is_first_time(asked, [held]).result is True


# --- R58–R60: paperless (S-P1) -------------------------------------------------------------------------------------


def test_s_p1_a_repeat_fx10_application_is_paperless() -> None:
    direction, line = FIXTURES["FX10"]
    first_time = rules.is_first_time(line.identity, [line.identity]).result
    decision = rules.paperless(C, direction, first_time, CreditTier.GENERAL, XIAMEN)
    assert decision.result is True
    assert decision.rule_ids == ("R58", "R59")


def test_s_p1_a_grade_a_fx02_application_is_never_paperless_even_when_repeated() -> None:
    assert rules.paperless(A, ENTRY, False, CreditTier.ADVANCED_CERTIFIED, XIAMEN).result is False


def test_s_p1_a_first_fx04_application_is_not_paperless() -> None:
    decision = rules.paperless(B, ENTRY, True, CreditTier.GENERAL, XIAMEN)
    assert decision.result is False
    assert "R60" in decision.rule_ids


@pytest.mark.parametrize("grade", [C, D])
def test_q4_first_time_c_and_d_are_on_paper_under_xiamen_2016(grade: RiskGrade) -> None:
    assert rules.paperless(grade, EXIT, True, CreditTier.GENERAL, XIAMEN).result is False


@pytest.mark.parametrize("direction", [ENTRY, EXIT])
def test_r58_non_first_time_b_is_paperless_in_both_directions_under_xiamen_2016(direction: Direction) -> None:
    assert rules.paperless(B, direction, False, CreditTier.GENERAL, XIAMEN).result is True


@pytest.mark.parametrize("grade", [C, D])
def test_legacy_2015_exit_c_and_d_are_paperless_even_first_time(grade: RiskGrade) -> None:
    assert rules.paperless(grade, EXIT, True, CreditTier.GENERAL, LEGACY).result is True


@pytest.mark.parametrize(("grade", "direction"), [(C, ENTRY), (D, ENTRY), (B, EXIT), (A, EXIT)])
def test_legacy_2015_entry_goods_and_grades_a_b_are_on_paper(grade: RiskGrade, direction: Direction) -> None:
    assert rules.paperless(grade, direction, False, CreditTier.GENERAL, LEGACY).result is False


def test_e_discredited_enterprises_lose_the_paperless_path_under_xiamen_2016() -> None:
    decision = rules.paperless(C, ENTRY, False, CreditTier.DISCREDITED, XIAMEN)
    assert decision.result is False
    assert "R65" in decision.rule_ids


@pytest.mark.parametrize("tier", [CreditTier.DISCREDITED, CreditTier.SERIOUSLY_DISCREDITED])
def test_r71_discredited_tiers_of_order_282_lose_the_paperless_path_under_gacc_2026(tier: CreditTier) -> None:
    assert rules.paperless(C, ENTRY, False, tier, GACC).result is False


def test_a_tier_of_another_regime_is_invalid_input_naming_the_credit_tier() -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.paperless(C, ENTRY, False, CreditTier.GENERAL_CERTIFIED, XIAMEN)
    assert refused.value.field == "credit_tier"


# --- E1: inspection rate (S-C1) -------------------------------------------------------------------------------------


def test_s_c1_fx10_is_inspected_at_0_1_times_0_2_for_an_aeo_and_0_8_for_a_discredited_enterprise() -> None:
    assert rules.inspection_rate(C, CreditTier.ADVANCED_CERTIFIED, XIAMEN).result == Decimal("0.02")
    assert rules.inspection_rate(C, CreditTier.DISCREDITED, XIAMEN).result == Decimal("0.8")
    assert rules.inspection_rate(C, CreditTier.GENERAL, XIAMEN).result == Decimal("0.1")


def test_e1_grade_a_is_always_checked_in_full_even_for_an_aeo() -> None:
    decision = rules.inspection_rate(A, CreditTier.ADVANCED_CERTIFIED, XIAMEN)
    assert decision.result == Decimal(1)
    assert decision.rule_ids == ("E1",)


def test_e1_gacc_2026_checks_seriously_discredited_enterprises_in_full_and_certified_ones_at_half_rate() -> None:
    assert rules.inspection_rate(C, CreditTier.SERIOUSLY_DISCREDITED, GACC).result == Decimal(1)
    assert rules.inspection_rate(B, CreditTier.CERTIFIED, GACC).result == Decimal("0.25")


def test_r64_legacy_2015_checks_every_consignment_whatever_the_credit() -> None:
    for grade in (A, B, C, D):
        assert rules.inspection_rate(grade, CreditTier.ADVANCED_CERTIFIED, LEGACY).result == Decimal(1)


@given(
    policy=st.sampled_from([XIAMEN, LEGACY, GACC]),
    grade=st.sampled_from([A, B, C, D]),
    tier=st.sampled_from(list(CreditTier)),
)
def test_e1_property_rate_is_within_0_and_1_and_at_least_0_8_for_discredited_enterprises(
    policy: Policy, grade: RiskGrade, tier: CreditTier
) -> None:
    if grade not in policy.grades or tier not in policy.credit.tiers:
        return
    rate = rules.inspection_rate(grade, tier, policy).result
    assert Decimal(0) <= rate <= Decimal(1)
    if tier in (CreditTier.DISCREDITED, CreditTier.SERIOUSLY_DISCREDITED):
        assert rate >= Decimal("0.8")
    if grade is A:
        assert rate == Decimal(1)


# --- R53: follow-up -------------------------------------------------------------------------------------------------


def test_r53_r54_fx01_exit_serum_is_followed_up_with_a_30_day_report_window() -> None:
    decision = rules.follow_up_required(A, EXIT, XIAMEN)
    assert decision.result is True
    assert "30 days" in decision.reason


# --- R32, R61, R63: risk-assessment route ------------------------------------------------------------------------


@pytest.mark.parametrize("grade", [A, B])
def test_r61_xiamen_2016_assesses_high_risk_goods_at_the_direct_customs_with_entity_reuse(grade: RiskGrade) -> None:
    route = rules.risk_assessment_route(grade, XIAMEN).result
    assert route.required and route.assessor_level is AssessorLevel.DIRECT_CUSTOMS
    assert route.lead_time_working_days == 0
    assert route.entity_reuse_months == 12


def test_r61_legacy_2015_refers_high_risk_goods_to_gacc_headquarters_with_a_lead_time() -> None:
    decision = rules.risk_assessment_route(B, LEGACY)
    assert decision.result.assessor_level is AssessorLevel.GACC_HQ
    assert decision.result.lead_time_working_days == 10
    assert "R63" not in decision.rule_ids


@pytest.mark.parametrize("grade", [C, D])
def test_r32_grades_c_and_d_are_decided_without_a_risk_assessment(grade: RiskGrade) -> None:
    decision = rules.risk_assessment_route(grade, XIAMEN)
    assert decision.result.required is False
    assert decision.rule_ids == ("R32",)


# --- R10, R12–R16: applicant and documents ----------------------------------------------------------------------


def test_r14_fx03_highly_pathogenic_strain_needs_pathogen_lab_bsl3_and_provincial_documents() -> None:
    direction, line = FIXTURES["FX03"]
    documents = rules.required_documents([line], direction, False, False).result
    assert documents == (
        "application_form",
        "goods_description",
        "pathogen_description",
        "biosafety_capability",
        "lab_qualification",
        "bsl3_accreditation",
        "provincial_health_approval",
    )


@pytest.mark.parametrize(
    ("fixture_id", "document"),
    [("FX01", "hgr_approval"), ("FX15", "certificate_of_sale"), ("FX12", "import_drug_registration")],
)
def test_r14_conditional_documents_follow_the_fixture_table(fixture_id: str, document: str) -> None:
    direction, line = FIXTURES[fixture_id]
    assert document in rules.required_documents([line], direction, False, False).result


def test_r15_an_entitys_first_application_adds_licence_basic_information_and_biosafety_system() -> None:
    direction, line = FIXTURES["FX10"]
    decision = rules.required_documents([line], direction, True, False)
    assert decision.result[-3:] == ("business_licence", "entity_basic_information", "biosafety_system_documents")
    assert "R15" in decision.rule_ids


def test_r15_a_natural_persons_first_application_adds_an_id_copy_instead() -> None:
    direction, line = FIXTURES["FX10"]
    assert rules.required_documents([line], direction, True, True).result[-1] == "id_copy"


def test_r10_a_natural_person_may_not_apply_for_goods_that_may_contain_pathogens() -> None:
    direction, line = FIXTURES["FX02"]
    assert rules.applicant_may_apply([line], True).result is False
    with pytest.raises(GuardFailed) as refused:
        rules.required_documents([line], direction, True, True)
    assert refused.value.rule_id == "R10"
