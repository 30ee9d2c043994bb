"""The simulator's workload: the default file loads, malformed files are refused by key, and a seed fixes the year."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from config.holidays import load_calendar
from config.profiles import load_policies
from config.simulation_workload import DEFAULT_WORKLOAD, load_workload
from simulator.facts import RegisteredLab, lab_for
from workflow.domain.errors import PolicyError
from workflow.simulation.agenda import Agenda, SimulatedClock
from workflow.simulation.report import percentile
from workflow.simulation.workload import Lab, shipments


def test_the_default_workload_loads_with_products_for_every_group() -> None:
    workload = load_workload()
    assert workload.district == "xiamen" and workload.groups
    for group in workload.groups:
        assert all(use.product in workload.products for use in group.uses)


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_WORKLOAD.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "workload.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("quota_headroom = 1.2", "quota_headroom = 1.2\nunknown_key = 1", "unknown_key"),
        ("acceptance = [1, 2, 5]", "acceptance = [5, 2, 1]", "timings"),
        ('{ product = "il6", shipments_per_month = 3.0 }', '{ product = "nope", shipments_per_month = 3.0 }', "nope"),
        ('"order-282" = "regular"', '"order-282" = "platinum"', "tiers"),
        ("first_time_share = 0.3", "first_time_share = 1.5", "first_time_share"),
        ('bsl_level = 3, accreditation_no = "CNAS BL0123"', "bsl_level = 3", "R14"),
        ("on = 2026-07-01", "on = 2027-07-01", "credit_events"),
        ('kind = "downgrade"', 'kind = "promotion"', "kind"),
        ("lab_mismatch_share = 0.2", "lab_mismatch_share = -0.1", "lab_mismatch_share"),
    ],
    ids=[
        "unknown-key",
        "timings-out-of-order",
        "unknown-product",
        "unknown-tier",
        "share-above-one",
        "bsl3-unaccredited",
        "credit-event-outside-the-year",
        "unknown-change-kind",
        "negative-mismatch-share",
    ],
)
def test_a_malformed_workload_is_refused_naming_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_workload(_variant(tmp_path, old, new))
    assert key in str(refused.value) and "workload.toml" in str(refused.value)


def test_the_same_seed_draws_the_same_year_and_another_seed_another() -> None:
    workload, calendar = load_workload(), load_calendar()
    first = shipments(workload, calendar, random.Random(7))
    assert first == shipments(workload, calendar, random.Random(7))
    assert first != shipments(workload, calendar, random.Random(8))
    assert all(calendar.is_working_day(shipment.day) and shipment.day.year == workload.year for shipment in first)


def test_scaling_a_workload_adds_enterprises_to_reach_about_the_shipments_asked() -> None:
    workload = load_workload()
    scaled = workload.scaled_to(20_000)
    assert 19_000 < scaled.expected_shipments() < 21_000
    assert sum(group.count for group in scaled.groups) > sum(group.count for group in workload.groups)


def test_the_agenda_runs_steps_in_day_order_and_moves_the_clock_with_them() -> None:
    from datetime import date

    clock = SimulatedClock(date(2026, 1, 1))
    agenda, seen = Agenda(clock), []
    agenda.at(date(2026, 1, 5), lambda: seen.append(("b", clock.today())))
    agenda.at(date(2026, 1, 2), lambda: agenda.at(date(2026, 1, 5), lambda: seen.append(("c", clock.today()))))
    agenda.at(date(2026, 1, 2), lambda: seen.append(("a", clock.today())))
    agenda.run()
    assert seen == [("a", date(2026, 1, 2)), ("b", date(2026, 1, 5)), ("c", date(2026, 1, 5))]
    assert clock.now() < clock.now()


def test_percentiles_are_nearest_rank_and_none_without_values() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert percentile(list(range(1, 101)), 0.95) == 95


def test_r62_a_pathogen_filing_names_the_lowest_matching_lab_or_for_a_mismatch_the_highest_below() -> None:
    policy, products = load_policies()["gacc-2026"], load_workload().products
    labs = (RegisteredLab(Lab("teaching", "教学", 1), 1), RegisteredLab(Lab("p2", "P2", 2), 2),
            RegisteredLab(Lab("p3", "P3", 3, "CNAS BL1"), 3), RegisteredLab(Lab("p3x", "P3", 3), 4))  # fmt: skip
    salmonella, culture = products["salmonella"].line("x", Decimal(1)), products["mtb_culture"].line("x", Decimal(1))
    assert lab_for(salmonella, labs, policy, mismatch=False) == 2  # class 3 microorganism: BSL-2
    assert lab_for(salmonella, labs, policy, mismatch=True) == 1
    assert lab_for(culture, labs, policy, mismatch=False) == 3  # class 2: BSL-3, accredited (R14), never lab 4
    assert lab_for(culture, labs, policy, mismatch=True) == 2
    assert lab_for(products["il6"].line("x", Decimal(1)), labs, policy, mismatch=True) is None  # no pathogen
