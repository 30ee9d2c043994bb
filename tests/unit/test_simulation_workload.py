"""The simulator's workload: the default file loads, malformed files are refused by key, and a seed fixes the year."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from config.holidays import load_calendar
from config.simulation_workload import DEFAULT_WORKLOAD, load_workload
from workflow.domain.errors import PolicyError
from workflow.simulation.agenda import Agenda, SimulatedClock
from workflow.simulation.report import percentile
from workflow.simulation.workload import shipments


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
    ],
    ids=["unknown-key", "timings-out-of-order", "unknown-product", "unknown-tier", "share-above-one"],
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
