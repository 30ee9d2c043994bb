"""Enterprise credit as a dated history (R68–R73): the tier in force on a given day, never 'current' after the fact."""

from __future__ import annotations

from datetime import date

import pytest

from config.profiles import load_policies
from workflow.domain.credit import CreditRecord, DefaultCredit, credit_as_of
from workflow.domain.errors import InvalidInput
from workflow.domain.policy import CreditRegime, CreditTier

POLICIES = load_policies()
XIAMEN, GACC = POLICIES["xiamen-2016"], POLICIES["gacc-2026"]
ORDER_251, ORDER_282 = CreditRegime.ORDER_251, CreditRegime.ORDER_282


def record(tier: CreditTier, start: date, end: date | None = None, regime: CreditRegime = ORDER_251) -> CreditRecord:
    return CreditRecord(enterprise_id=7, tier=tier, regime=regime, effective_from=start, effective_to=end)


HISTORY = [
    record(CreditTier.GENERAL, date(2021, 11, 1), date(2022, 5, 31)),
    record(CreditTier.DISCREDITED, date(2022, 6, 1), date(2024, 5, 31)),
    record(CreditTier.ADVANCED_CERTIFIED, date(2024, 6, 1), date(2026, 3, 31)),
    record(CreditTier.CERTIFIED, date(2026, 4, 1), regime=ORDER_282),
]


@pytest.mark.parametrize(
    ("on", "tier"),
    [
        (date(2021, 11, 1), CreditTier.GENERAL),
        (date(2022, 5, 31), CreditTier.GENERAL),
        (date(2022, 6, 1), CreditTier.DISCREDITED),
        (date(2024, 5, 31), CreditTier.DISCREDITED),
        (date(2024, 6, 1), CreditTier.ADVANCED_CERTIFIED),
        (date(2026, 3, 31), CreditTier.ADVANCED_CERTIFIED),
    ],
)
def test_r73_credit_is_the_tier_in_force_on_the_date_asked_about_with_both_ends_inclusive(
    on: date, tier: CreditTier
) -> None:
    assert credit_as_of(HISTORY, on, XIAMEN).tier is tier


def test_r73_a_2023_declaration_replayed_later_still_sees_the_discredited_tier_of_2023() -> None:
    standing = credit_as_of(HISTORY, date(2023, 1, 1), XIAMEN)
    assert isinstance(standing, CreditRecord)
    assert standing.tier is CreditTier.DISCREDITED
    assert standing.effective_from == date(2022, 6, 1)


def test_r73_an_enterprise_without_a_record_in_force_gets_the_policys_default_tier() -> None:
    assert credit_as_of([], date(2020, 1, 1), XIAMEN) == DefaultCredit(CreditTier.GENERAL, ORDER_251)
    assert credit_as_of(HISTORY, date(2021, 10, 31), XIAMEN).tier is CreditTier.GENERAL


def test_r71_a_gacc_2026_policy_reads_only_order_282_records() -> None:
    assert credit_as_of(HISTORY, date(2026, 9, 1), GACC).tier is CreditTier.CERTIFIED
    assert credit_as_of(HISTORY, date(2025, 1, 1), GACC) == DefaultCredit(CreditTier.REGULAR, ORDER_282)


def test_r73_records_of_different_regimes_may_overlap_in_time() -> None:
    overlapping = [*HISTORY, record(CreditTier.ADVANCED_CERTIFIED, date(2026, 1, 1), regime=ORDER_282)]
    assert credit_as_of(overlapping, date(2026, 2, 1), XIAMEN).tier is CreditTier.ADVANCED_CERTIFIED


@pytest.mark.parametrize(
    "second",
    [
        record(CreditTier.DISCREDITED, date(2022, 5, 31), date(2022, 12, 31)),  # shares one day
        record(CreditTier.DISCREDITED, date(2020, 1, 1)),  # open-ended, starts earlier
        record(CreditTier.DISCREDITED, date(2022, 1, 1), date(2022, 2, 1)),  # inside
    ],
    ids=["shared-day", "open-ended-earlier", "inside"],
)
def test_r73_overlapping_records_of_one_regime_are_an_error(second: CreditRecord) -> None:
    first = record(CreditTier.GENERAL, date(2021, 11, 1), date(2022, 5, 31))
    with pytest.raises(InvalidInput) as refused:
        credit_as_of([first, second], date(2022, 1, 15), XIAMEN)
    assert refused.value.rule_id == "R73"


def test_r73_records_of_two_enterprises_in_one_history_are_an_error() -> None:
    other = CreditRecord(8, CreditTier.GENERAL, ORDER_251, date(2023, 1, 1))
    with pytest.raises(InvalidInput, match="several enterprises"):
        credit_as_of([HISTORY[0], other], date(2022, 1, 1), XIAMEN)


def test_r69_general_certified_exists_only_under_order_237_and_order_225() -> None:
    with pytest.raises(InvalidInput) as refused:
        record(CreditTier.GENERAL_CERTIFIED, date(2022, 1, 1))
    assert refused.value.field == "tier"
    assert CreditRecord(1, CreditTier.GENERAL_CERTIFIED, CreditRegime.ORDER_237, date(2019, 1, 1)).tier


def test_a_record_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput):
        record(CreditTier.GENERAL, date(2022, 1, 2), date(2022, 1, 1))


def test_a_record_read_back_from_the_store_as_plain_strings_becomes_enum_values() -> None:
    stored = CreditRecord(7, "discredited", "order-251", date(2022, 6, 1))  # type: ignore[arg-type]
    assert stored.tier is CreditTier.DISCREDITED
    assert stored.regime is ORDER_251


def test_an_unknown_regime_code_is_invalid_input_not_a_crash() -> None:
    with pytest.raises(InvalidInput):
        CreditRecord(7, CreditTier.GENERAL, "order-999", date(2022, 6, 1))  # type: ignore[arg-type]
