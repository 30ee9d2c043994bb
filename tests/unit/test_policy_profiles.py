"""Policy profiles and district adoptions as data: loading, hashing, malformed files, the profile in force by date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from config.profiles import DISTRICTS_FILE, POLICY_DIR, load_districts, load_policies, load_policy
from workflow.domain.errors import NotFound, PolicyError
from workflow.domain.goods import Direction, RiskGrade, WriteOffMode
from workflow.domain.policy import AssessorLevel, CreditRegime, CreditTier

XIAMEN_FILE = POLICY_DIR / "xiamen-2016.toml"


def write_profile(directory: Path, text: str, name: str = "xiamen-2016") -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def xiamen_text() -> str:
    return XIAMEN_FILE.read_text(encoding="utf-8")


# --- The shipped profiles ---------------------------------------------------------------------------------------


def test_the_three_shipped_profiles_load_by_id() -> None:
    assert set(load_policies()) == {"legacy-2015", "xiamen-2016", "gacc-2026"}


def test_xiamen_2016_holds_the_section_8_defaults() -> None:
    policy = load_policy(XIAMEN_FILE)
    assert dict(policy.validity_months) == {RiskGrade.A: 3, RiskGrade.B: 6, RiskGrade.C: 12, RiskGrade.D: 12}
    assert policy.write_off_mode[RiskGrade.A] is WriteOffMode.SINGLE
    assert policy.paperless.grades == {RiskGrade.B, RiskGrade.C, RiskGrade.D}
    assert policy.paperless.directions == {Direction.ENTRY, Direction.EXIT}
    assert policy.risk_assessment.assessor_level is AssessorLevel.DIRECT_CUSTOMS
    assert policy.credit.regime is CreditRegime.ORDER_251
    assert policy.credit.tiers[CreditTier.ADVANCED_CERTIFIED].modifier == Decimal("0.2")
    assert policy.credit.tiers[CreditTier.DISCREDITED].floor == Decimal("0.8")
    assert (policy.limits.correction_notice_working_days, policy.limits.decision_working_days) == (5, 20)
    assert (policy.limits.extension_working_days, policy.limits.delivery_working_days) == (10, 10)


def test_rates_are_decimals_never_floats() -> None:
    policy = load_policy(XIAMEN_FILE)
    assert all(type(rate) is Decimal for rate in policy.inspection.baseline.values())
    assert all(type(terms.modifier) is Decimal for terms in policy.credit.tiers.values())


def test_r75_gacc_2026_has_no_grade_d_and_order_282s_five_tiers() -> None:
    policy = load_policies()["gacc-2026"]
    assert policy.grades == {RiskGrade.A, RiskGrade.B, RiskGrade.C}
    assert set(policy.credit.tiers) == CreditRegime.ORDER_282.tiers
    assert policy.credit.default_tier is CreditTier.REGULAR
    assert policy.scope.regulated_items_excluded and policy.scope.environmental_agents_excluded


def test_legacy_2015_refers_assessment_to_headquarters_and_makes_every_certificate_single_use() -> None:
    policy = load_policies()["legacy-2015"]
    assert policy.risk_assessment.assessor_level is AssessorLevel.GACC_HQ
    assert policy.risk_assessment.hq_lead_time_working_days > 0
    assert set(policy.write_off_mode.values()) == {WriteOffMode.SINGLE}
    assert policy.paperless.directions == {Direction.EXIT}
    assert policy.paperless.first_time_excluded is False


def test_policy_mappings_cannot_be_changed_after_loading() -> None:
    policy = load_policy(XIAMEN_FILE)
    with pytest.raises(TypeError):
        policy.validity_months[RiskGrade.A] = 99  # type: ignore[index]


# --- The content hash -------------------------------------------------------------------------------------------


def test_the_content_hash_ignores_comments_and_layout(tmp_path: Path) -> None:
    rewritten = "# a new comment\n\n" + xiamen_text().replace(" = ", "   =   ") + "\n\n# trailing\n"
    copy = load_policy(write_profile(tmp_path, rewritten))
    assert copy.content_hash == load_policy(XIAMEN_FILE).content_hash
    assert len(copy.content_hash) == 64


def test_the_content_hash_ignores_how_a_decimal_is_written(tmp_path: Path) -> None:
    rewritten = xiamen_text().replace("C = 0.1\n", "C = 0.10\n")
    assert load_policy(write_profile(tmp_path, rewritten)).content_hash == load_policy(XIAMEN_FILE).content_hash


def test_the_content_hash_changes_when_a_value_changes(tmp_path: Path) -> None:
    rewritten = xiamen_text().replace("C = 0.1\n", "C = 0.2\n")
    assert load_policy(write_profile(tmp_path, rewritten)).content_hash != load_policy(XIAMEN_FILE).content_hash


# --- Malformed profiles name the file, the key and the reason ---------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ("A = 3\n", "A = 0\n", "validity_months.A", "greater than 0"),
        ("A = 3\n", 'A = "three"\n', "validity_months.A", "integer"),
        ('A = "single"', 'A = "once"', "write_off_mode.A", "'single' or 'multiple'"),
        ("floor = 0.8", "floor = 1.8", "credit.tiers.discredited.floor", "less than or equal to 1"),
        ("quorum = 3", "quorum = 3\nvoting = 1", "risk_assessment.voting", "Extra inputs are not permitted"),
        ('regime = "order-251"', 'regime = "order-999"', "credit.regime", "order-251"),
        ("first_time_excluded = true", 'first_time_excluded = "yes"', "paperless.first_time_excluded", "boolean"),
    ],
    ids=["zero-months", "text-months", "unknown-mode", "floor-above-1", "unknown-key", "unknown-regime", "text-bool"],
)
def test_a_malformed_profile_raises_policy_error_naming_file_key_and_reason(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    path = write_profile(tmp_path, xiamen_text().replace(old, new, 1))
    with pytest.raises(PolicyError) as refused:
        load_policy(path)
    assert str(refused.value).startswith(f"{path}: {key}: ")
    assert reason in str(refused.value)
    assert refused.value.field == key


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("D = 12\n", "", "validity_months"),
        ("quorum = 3", "quorum = 7", "risk_assessment.quorum"),
        ('grades = ["B", "C", "D"]', 'grades = ["B", "C", "D", "E"]', "paperless.grades.3"),
        ("hq_lead_time_working_days = 0", "hq_lead_time_working_days = 5", "risk_assessment.hq_lead_time_working_days"),
    ],
    ids=["grade-without-validity", "quorum-above-panel", "unknown-grade", "lead-time-unused"],
)
def test_an_inconsistent_profile_raises_policy_error_naming_file_and_key(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy(write_profile(tmp_path, xiamen_text().replace(old, new, 1)))
    assert f"xiamen-2016.toml: {key}: " in str(refused.value)


TIER_TERMS = "modifier = 1.0\nfloor = 0\npaperless_allowed = true\nassessment_reuse_allowed = true\n"
REGULAR_TIER = "\n[credit.tiers.regular]\n" + TIER_TERMS


def test_r71_a_tier_of_another_regime_in_a_profile_is_refused_naming_credit_tiers(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"xiamen-2016\.toml: credit\.tiers: .*order-251"):
        load_policy(write_profile(tmp_path, xiamen_text() + REGULAR_TIER))


def test_a_default_tier_missing_from_the_tiers_is_refused_naming_credit_default_tier(tmp_path: Path) -> None:
    general = "[credit.tiers.general]\n" + TIER_TERMS
    assert general in xiamen_text()
    with pytest.raises(PolicyError, match=r"xiamen-2016\.toml: credit\.default_tier: "):
        load_policy(write_profile(tmp_path, xiamen_text().replace(general, "")))


def test_a_profile_whose_id_differs_from_its_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"other\.toml: id: "):
        load_policy(write_profile(tmp_path, xiamen_text(), name="other"))


def test_a_profile_that_is_not_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid UTF-8 TOML"):
        load_policy(write_profile(tmp_path, "grades = [\n"))


def test_a_missing_profile_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.toml")


def test_an_empty_policy_directory_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no policy profiles"):
        load_policies(tmp_path)


# --- Districts: the profile in force by date --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("district", "on", "policy_id"),
    [
        ("xiamen", date(2015, 6, 1), "legacy-2015"),
        ("xiamen", date(2016, 2, 29), "legacy-2015"),
        ("xiamen", date(2016, 3, 1), "xiamen-2016"),
        ("xiamen", date(2026, 7, 31), "xiamen-2016"),
        ("xiamen", date(2026, 8, 1), "gacc-2026"),
        ("fuzhou", date(2016, 6, 1), "legacy-2015"),
        ("fuzhou", date(2017, 1, 1), "xiamen-2016"),
        ("quanzhou", date(2017, 1, 1), "xiamen-2016"),
        ("pingtan", date(2030, 1, 1), "gacc-2026"),
    ],
)
def test_a_district_applies_the_latest_profile_adopted_on_or_before_the_date(
    district: str, on: date, policy_id: str
) -> None:
    assert load_districts().policy_for(district, on).id == policy_id


def test_r7_quanzhou_is_approved_by_xiamen_and_pingtan_by_fuzhou_the_direct_customs() -> None:
    districts = load_districts()
    assert districts.get("quanzhou").approving_customs == "xiamen"
    assert districts.get("pingtan").approving_customs == "fuzhou"
    assert districts.get("xiamen").is_direct_customs and districts.get("fuzhou").is_direct_customs
    assert districts.get("xiamen").name_zh == "厦门海关"


def test_an_unknown_district_is_not_found() -> None:
    with pytest.raises(NotFound) as refused:
        load_districts().policy_for("shanghai", date(2020, 1, 1))
    assert refused.value.field == "district"


def test_a_date_before_any_adoption_is_a_policy_error() -> None:
    with pytest.raises(PolicyError) as refused:
        load_districts().policy_for("xiamen", date(2014, 12, 31))
    assert refused.value.field == "date"


def test_load_districts_reuses_the_policies_it_is_given() -> None:
    policies = load_policies()
    districts = load_districts(DISTRICTS_FILE, policies)
    assert districts.policy_for("xiamen", date(2020, 1, 1)) is policies["xiamen-2016"]


def districts_text() -> str:
    return DISTRICTS_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('policy = "gacc-2026", effective_from = 2026-08-01 },\n]\n\n[districts.fuzhou]',
         'policy = "gacc-2027", effective_from = 2026-08-01 },\n]\n\n[districts.fuzhou]',
         "districts.xiamen.adoptions.2.policy"),
        ('approving_customs = "fuzhou"\nadoptions = [\n  { policy = "legacy-2015", effective_from = 2015-01-01 },\n'
         '  { policy = "xiamen-2016", effective_from = 2017-01-01 },\n  { policy = "gacc-2026", effective_from = '
         '2026-08-01 },\n]\n\n[districts.quanzhou]',
         'approving_customs = "fuzhou"\nadoptions = [\n  { policy = "xiamen-2016", effective_from = 2017-01-01 },\n'
         '  { policy = "legacy-2015", effective_from = 2015-01-01 },\n]\n\n[districts.quanzhou]',
         "districts.fuzhou.adoptions"),
        ('is_direct_customs = false\napproving_customs = "xiamen"',
         'is_direct_customs = false\napproving_customs = "pingtan"',
         "districts.quanzhou.approving_customs"),
        ('name_en = "Pingtan Customs"', 'name_en = "Pingtan Customs"\nnickname = "岚"', "districts.pingtan.nickname"),
    ],
    ids=["unknown-policy", "adoptions-out-of-order", "approver-not-direct-customs", "unknown-key"],
)  # fmt: skip
def test_a_malformed_districts_file_names_the_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in districts_text()
    path = tmp_path / "districts.toml"
    path.write_text(districts_text().replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_districts(path, load_policies())
    assert str(refused.value).startswith(f"{path}: {key}: ")
