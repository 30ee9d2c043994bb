"""Credit events (R68–R74) in the pure domain: no change moves a past date's tier; each kind moves one way."""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta

import pytest

from config.profiles import load_policies
from workflow.domain.actors import Actor, Role
from workflow.domain.credit import CreditRecord, credit_as_of
from workflow.domain.credit_events import (
    CreditChangeKind,
    CreditGround,
    CreditPlan,
    RecordCreditChange,
    pending,
    plan_change,
    restoration_due,
)
from workflow.domain.errors import GuardFailed, InvalidInput
from workflow.domain.policy import CreditRegime, CreditTier

POLICIES = load_policies()
XIAMEN, GACC, LEGACY = POLICIES["xiamen-2016"], POLICIES["gacc-2026"], POLICIES["legacy-2015"]
DECIDER = Actor(9, Role.DECIDER, "decider", district="xiamen")
TODAY = date(2024, 3, 10)
K, G, T = CreditChangeKind, CreditGround, CreditTier


def change(kind: CreditChangeKind, tier: CreditTier, start: date, ground: CreditGround, case: int | None = None):
    return RecordCreditChange(DECIDER, 7, kind, tier, start, ground, "found by the district", case)


def record(tier: CreditTier, start: date, end: date | None = None, regime: CreditRegime = CreditRegime.ORDER_251):
    return CreditRecord(7, tier, regime, start, end)


def apply(history: list[CreditRecord], plan: CreditPlan) -> list[CreditRecord]:
    kept = [r for r in history if plan.closes is None or r.effective_from != plan.closes.effective_from]
    return [*kept, *([plan.closes] if plan.closes else []), plan.opens]


def test_r73_a_discredit_opens_a_record_from_its_date_and_closes_the_one_before_the_day_before():
    history = [record(T.GENERAL, date(2022, 1, 1))]
    plan = plan_change(history, change(K.DISCREDIT, T.DISCREDITED, date(2024, 4, 1), G.SMUGGLING), TODAY, XIAMEN)
    assert plan.before is T.GENERAL
    assert plan.closes == record(T.GENERAL, date(2022, 1, 1), date(2024, 3, 31))
    assert plan.opens == record(T.DISCREDITED, date(2024, 4, 1))


def test_r73_a_first_change_of_an_unrated_enterprise_starts_from_the_policy_default_and_closes_nothing():
    plan = plan_change([], change(K.DISCREDIT, T.DISCREDITED, TODAY + timedelta(days=1), G.BRIBERY), TODAY, XIAMEN)
    assert (plan.before, plan.closes) == (T.GENERAL, None)


@pytest.mark.parametrize("start", [TODAY, TODAY - timedelta(days=30)], ids=["today", "backdated"])
def test_r73_a_change_takes_effect_from_tomorrow_at_the_earliest(start: date):
    with pytest.raises(InvalidInput) as refused:
        plan_change([], change(K.DISCREDIT, T.DISCREDITED, start, G.SMUGGLING), TODAY, XIAMEN)
    assert (refused.value.rule_id, refused.value.field) == ("R73", "effective_from")


def test_r73_a_change_is_recorded_at_most_a_year_ahead():
    with pytest.raises(InvalidInput, match="at most 12 months"):
        plan_change([], change(K.DISCREDIT, T.DISCREDITED, date(2025, 3, 11), G.SMUGGLING), TODAY, XIAMEN)


def test_r73_a_pending_change_is_superseded_only_by_a_later_one_never_edited():
    history = [record(T.GENERAL, date(2022, 1, 1), date(2024, 4, 30)), record(T.DISCREDITED, date(2024, 5, 1))]
    with pytest.raises(InvalidInput, match="already recorded") as refused:
        plan_change(history, change(K.DOWNGRADE, T.GENERAL, date(2024, 4, 15), G.TAX_UNPAID), TODAY, XIAMEN)
    assert refused.value.field == "effective_from"
    later = plan_change(history, change(K.RESTORATION, T.GENERAL, date(2024, 6, 1), G.CREDIT_REPAIRED), TODAY, XIAMEN)
    assert later.closes == record(T.DISCREDITED, date(2024, 5, 1), date(2024, 5, 31))


@pytest.mark.parametrize(
    ("kind", "before", "after", "ground"),
    [
        (K.DOWNGRADE, T.ADVANCED_CERTIFIED, T.GENERAL, G.CERTIFICATION_LOST),
        (K.DISCREDIT, T.GENERAL, T.DISCREDITED, G.FINES_UNPAID),
        (K.RESTORATION, T.DISCREDITED, T.GENERAL, G.NO_DISCREDIT_PERIOD),
        (K.CERTIFICATION, T.GENERAL, T.ADVANCED_CERTIFIED, G.CERTIFICATION_AUDIT),
    ],
    ids=["R72-downgrade", "R72-discredit", "R69-restoration", "R70-certification"],
)
def test_each_kind_moves_its_own_way(kind: CreditChangeKind, before: CreditTier, after: CreditTier, ground):
    history = [record(before, date(2020, 1, 1))]
    assert plan_change(history, change(kind, after, date(2024, 4, 1), ground), TODAY, XIAMEN).opens.tier is after


@pytest.mark.parametrize(
    ("kind", "before", "after", "ground"),
    [
        (K.DOWNGRADE, T.GENERAL, T.DISCREDITED, G.SMUGGLING),  # that is a discredit
        (K.DISCREDIT, T.DISCREDITED, T.DISCREDITED, G.SMUGGLING),  # not lower
        (K.RESTORATION, T.GENERAL, T.ADVANCED_CERTIFIED, G.CREDIT_REPAIRED),  # not out of discredit
        (K.CERTIFICATION, T.DISCREDITED, T.ADVANCED_CERTIFIED, G.CERTIFICATION_AUDIT),  # restored first
    ],
    ids=["R72-downgrade-to-discredited", "R72-discredit-sideways", "R69-restore-a-general", "R70-certify-discredited"],
)
def test_a_kind_moving_the_wrong_way_is_refused_at_the_tier(kind, before, after, ground):
    with pytest.raises(GuardFailed) as refused:
        plan_change([record(before, date(2020, 1, 1))], change(kind, after, date(2024, 4, 1), ground), TODAY, XIAMEN)
    assert refused.value.field == "tier"


def test_r72_the_ground_must_be_one_for_the_kind_and_a_case_ground_names_its_case_r74():
    with pytest.raises(InvalidInput) as wrong:
        plan_change([], change(K.DISCREDIT, T.DISCREDITED, date(2024, 4, 1), G.CERTIFICATION_AUDIT), TODAY, XIAMEN)
    assert (wrong.value.rule_id, wrong.value.field) == ("R72", "ground")
    with pytest.raises(InvalidInput) as unnamed:
        plan_change([], change(K.DISCREDIT, T.DISCREDITED, date(2024, 4, 1), G.VIOLATION_CASE), TODAY, XIAMEN)
    assert (unnamed.value.rule_id, unnamed.value.field) == ("R74", "case_id")
    named = change(K.DISCREDIT, T.DISCREDITED, date(2024, 4, 1), G.VIOLATION_CASE, case=3)
    assert plan_change([], named, TODAY, XIAMEN).opens.tier is T.DISCREDITED


@pytest.mark.parametrize(
    ("policy", "tier"),
    [(XIAMEN, T.SERIOUSLY_DISCREDITED), (GACC, T.GENERAL), (LEGACY, T.REGULAR)],
    ids=["R70-order-251-has-no-serious-tier", "R71-order-282-has-no-general", "R68-order-225-has-no-regular"],
)
def test_a_tier_the_regime_does_not_have_is_refused(policy, tier: CreditTier):
    with pytest.raises(InvalidInput) as refused:
        plan_change([], change(K.DISCREDIT, tier, date(2024, 4, 1), G.SMUGGLING), TODAY, policy)
    assert refused.value.field == "tier"


def test_r71_order_282_records_a_serious_discredit_under_its_own_regime():
    plan = plan_change(
        [], change(K.DISCREDIT, T.SERIOUSLY_DISCREDITED, date(2026, 5, 1), G.BRIBERY), date(2026, 4, 2), GACC
    )
    assert (plan.before, plan.opens.regime) == (T.REGULAR, CreditRegime.ORDER_282)


def test_r73_no_sequence_of_changes_ever_moves_the_tier_of_a_date_up_to_the_day_it_was_recorded():
    """Property: random changes on random days; every date up to each recording day keeps the tier it had."""
    rng = random.Random(73)
    kinds = [
        (K.DISCREDIT, T.DISCREDITED, G.SMUGGLING),
        (K.RESTORATION, T.GENERAL, G.CREDIT_REPAIRED),
        (K.CERTIFICATION, T.ADVANCED_CERTIFIED, G.CERTIFICATION_AUDIT),
        (K.DOWNGRADE, T.GENERAL, G.CERTIFICATION_LOST),
    ]
    history: list[CreditRecord] = []
    today, applied = date(2022, 1, 1), 0
    for _ in range(200):
        today += timedelta(days=rng.randint(0, 40))
        kind, tier, ground = rng.choice(kinds)
        seen = {day: credit_as_of(history, day, XIAMEN).tier for day in _days(date(2021, 12, 1), today)}
        start = today + timedelta(days=rng.randint(1, 60))
        try:
            plan = plan_change(history, change(kind, tier, start, ground), today, XIAMEN)
        except (InvalidInput, GuardFailed):
            continue
        history, applied = apply(history, plan), applied + 1
        assert {day: credit_as_of(history, day, XIAMEN).tier for day in seen} == seen
        assert credit_as_of(history, start, XIAMEN).tier is tier
    assert applied > 30  # the walk really changed the history, not only refused


def _days(first: date, last: date):
    return itertools.takewhile(lambda d: d <= last, (first + timedelta(days=n) for n in itertools.count()))


def test_r69_two_years_without_a_discredit_event_restore_general_credit_from_the_due_day():
    history = [record(T.DISCREDITED, date(2022, 3, 11))]
    due = restoration_due(7, history, [], date(2024, 3, 10), XIAMEN)
    assert due is not None
    assert (due.kind, due.tier, due.effective_from, due.ground) == (
        K.RESTORATION,
        T.GENERAL,
        date(2024, 3, 11),
        G.NO_DISCREDIT_PERIOD,
    )
    assert due.reason.startswith("R69")
    assert restoration_due(7, history, [], date(2024, 3, 9), XIAMEN) is None  # two days before: not yet


def test_r69_r74_a_violation_case_decided_meanwhile_restarts_the_two_years():
    history = [record(T.DISCREDITED, date(2022, 3, 11))]
    assert restoration_due(7, history, [date(2023, 1, 5)], date(2024, 3, 10), XIAMEN) is None
    later = restoration_due(7, history, [date(2023, 1, 5)], date(2025, 1, 4), XIAMEN)
    assert later is not None and later.effective_from == date(2025, 1, 5)
    older = restoration_due(7, history, [date(2021, 1, 5)], date(2024, 3, 10), XIAMEN)  # before the discredit
    assert older is not None


def test_r69_a_late_sweep_restores_from_tomorrow_never_backdated():
    due = restoration_due(7, [record(T.DISCREDITED, date(2020, 1, 1))], [], TODAY, XIAMEN)
    assert due is not None and due.effective_from == TODAY + timedelta(days=1)


def test_r69_the_sweep_adds_nothing_behind_a_pending_change():
    history = [record(T.DISCREDITED, date(2020, 1, 1), date(2024, 3, 14)), record(T.GENERAL, date(2024, 3, 15))]
    assert restoration_due(7, history, [], TODAY, XIAMEN) is None
    assert pending(history, TODAY, XIAMEN) == record(T.GENERAL, date(2024, 3, 15))


def test_r71_order_282_restores_step_by_step_and_r68_legacy_has_no_restoration_rule():
    serious = [record(T.SERIOUSLY_DISCREDITED, date(2026, 4, 1), regime=CreditRegime.ORDER_282)]
    step = restoration_due(7, serious, [], date(2028, 4, 1), GACC)
    assert step is not None and step.tier is T.DISCREDITED and step.reason.startswith("R71")
    legacy = [record(T.DISCREDITED, date(2010, 1, 1), regime=CreditRegime.ORDER_225)]
    assert restoration_due(7, legacy, [], date(2015, 1, 1), LEGACY) is None
