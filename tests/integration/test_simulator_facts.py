"""The simulator's laboratories and credit events (docs/simulator.md), through the bus on scratch SQLite databases.

A filing that names a lab below the goods' level gets R62's correction notice and is re-filed with the matching lab,
and the report counts exactly those notices; a downgrade in the workload routes the declarations dated from it with
the new tier (R73, E3), the restoration sweep restores per the profile (R69, R71); and all of it repeats for a seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from config.bootstrap import Container
from config.simulation_workload import load_workload
from simulator.counts import count_profile
from simulator.runner import Run, scratch_container, simulate
from workflow.domain.credit_events import CreditChangeKind, CreditGround
from workflow.domain.policy import CreditTier
from workflow.simulation.agenda import SimulatedClock
from workflow.simulation.report import CreditChangeFigures, ProfileReport
from workflow.simulation.workload import (
    CreditEvent,
    Duration,
    EnterpriseGroup,
    Lab,
    ProductUse,
    Shipment,
    Timings,
    Workload,
)

SAME_DAY = Duration(0, 0, 0)
SHIPMENT_DAYS = (date(2026, 3, 2), date(2026, 4, 1), date(2026, 5, 6))
TEACHING, P2 = Lab("teaching", "教学实验室", 1), Lab("p2", "P2 实验室", 2)
CERTIFIED = {"order-225": CreditTier.GENERAL_CERTIFIED, "order-251": CreditTier.ADVANCED_CERTIFIED,
             "order-282": CreditTier.ADVANCED_CERTIFIED}  # fmt: skip
DISCREDITED = {regime: CreditTier.DISCREDITED for regime in ("order-225", "order-251", "order-282")}


def solo(product: str, group: EnterpriseGroup, share: float = 0.0) -> Workload:
    """One enterprise shipping `product` three times, every step the same day, nothing granted before the year."""
    group = replace(group, code="solo", uses=(ProductUse(product, 0.25),))
    timings = Timings(*([SAME_DAY] * 7))
    default = load_workload()
    return replace(default, first_time_share=1.0, quota_headroom=1.0, timings=timings, groups=(group,),
                   lab_mismatch_share=share)  # fmt: skip


def three(workload: Workload, product: str) -> list[Shipment]:
    quantity = workload.products[product].qty_per_shipment
    return [Shipment(n, day, "solo-001", product, quantity) for n, day in enumerate(SHIPMENT_DAYS, start=1)]


@contextmanager
def played(folder: Path, workload: Workload, profile: str, product: str) -> Iterator[tuple[Container, ProfileReport]]:
    """The year run through the bus, its scratch database kept open beside the report counted from it."""
    clock = SimulatedClock(date(workload.year - 1, 9, 1))
    container = scratch_container(folder, workload.district, profile, clock)
    try:
        run = Run(container, workload, clock, None)
        year = three(workload, product)
        run.play(year)
        yield container, count_profile(container, workload, run.tiers, year, tuple(run.failures))
    finally:
        container.dispose()


def rows(container: Container, sql: str) -> list[Any]:
    with container.engine.connect() as conn:
        return list(conn.execute(text(sql)))


def routes(container: Container) -> dict[str, dict[str, Any]]:
    found = rows(container, "SELECT declaration_no, route FROM declarations ORDER BY declaration_no")
    return {number: json.loads(route) if isinstance(route, str) else route for number, route in found}


@pytest.mark.parametrize("profile", ["legacy-2015", "gacc-2026"])
def test_r62_a_workload_filing_naming_a_lab_below_the_goods_level_is_corrected_and_the_report_counts_it(
    tmp_path: Path, profile: str
) -> None:
    group = EnterpriseGroup("solo", "单一企业", 1, CERTIFIED, (), labs=(TEACHING, P2))
    workload = solo("salmonella", group, share=1.0)  # every filing names the BSL-1 lab first

    with played(tmp_path, workload, profile, "salmonella") as (container, report):
        notices = [reason for (reason,) in rows(container, "SELECT reason FROM audit_events"
                                                           " WHERE trigger = 'request_correction'")]  # fmt: skip
        labs = dict(rows(container, "SELECT bsl_level, id FROM laboratories WHERE verified_on IS NOT NULL"))
        relied_on = {lab_id for (lab_id,) in rows(container, "SELECT lab_id FROM certificate_labs")}

    assert report.failures == ()
    assert notices and all("below BSL-2" in reason for reason in notices)  # R17's one notice names R62's mismatch
    assert report.lab_corrections == len(notices) == report.applications == report.pathogen_applications
    assert report.certificates == report.applications and report.write_offs == 3  # re-filed, then granted
    assert relied_on == {labs[2]}  # the certificates rely on the BSL-2 lab the corrected files named


def test_r62_with_no_mismatch_share_no_filing_is_corrected(tmp_path: Path) -> None:
    group = EnterpriseGroup("solo", "单一企业", 1, CERTIFIED, (), labs=(TEACHING, P2))
    with played(tmp_path, solo("salmonella", group), "legacy-2015", "salmonella") as (container, report):
        corrections = rows(container, "SELECT COUNT(*) FROM audit_events WHERE trigger = 'request_correction'")
    assert report.failures == () and corrections == [(0,)]
    assert report.lab_corrections == 0 and report.pathogen_applications == report.applications == 3


def test_r73_a_downgrade_in_the_workload_routes_the_declarations_from_its_date_with_the_new_tier(
    tmp_path: Path,
) -> None:
    tiers = {"order-225": CreditTier.GENERAL, "order-251": CreditTier.GENERAL, "order-282": CreditTier.REGULAR}
    downgrade = CreditEvent(1, CreditChangeKind.DOWNGRADE, date(2026, 4, 1), tiers, CreditGround.CERTIFICATION_LOST)
    group = EnterpriseGroup("solo", "单一企业", 1, CERTIFIED, (), credit_events=(downgrade,))

    with played(tmp_path, solo("il6", group), "gacc-2026", "il6") as (container, report):
        routed = routes(container)
        recorded = rows(container, "SELECT kind, to_tier, effective_from, recorded_at FROM credit_changes")

    assert report.failures == ()
    assert [route["credit_tier"] for route in routed.values()] == ["advanced_certified", "regular", "regular"]
    assert [(kind, tier, str(on)) for kind, tier, on, _ in recorded] == [("downgrade", "regular", "2026-04-01")]
    assert str(recorded[0][3]).startswith("2026-03-31")  # recorded the day before: a change starts tomorrow (R73)
    by_tier = {figures.tier: figures.declarations for figures in report.inspections}
    assert by_tier == {"advanced_certified": 1, "regular": 2}
    inspected = [bool(route["inspected"]) for route in routed.values()]
    assert report.credit_changes == (
        CreditChangeFigures("downgrade", "advanced_certified", "regular", 1, 1, int(inspected[0]), 2,
                            sum(inspected[1:])),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("profile", "tiers"),
    [
        ("gacc-2026", ["discredited", "regular", "regular"]),  # R71: regular after 12 months, from 2026-03-20
        ("xiamen-2016", ["discredited", "discredited", "discredited"]),  # R69: 24 months, after the year
        ("legacy-2015", ["discredited", "discredited", "discredited"]),  # R68: no restoration in the sources
    ],
)
def test_r69_r71_the_daily_sweep_restores_a_discredited_enterprise_per_the_profile(
    tmp_path: Path, profile: str, tiers: list[str]
) -> None:
    group = EnterpriseGroup("solo", "失信企业", 1, DISCREDITED, (), tier_since=date(2025, 3, 20))

    with played(tmp_path, solo("il6", group), profile, "il6") as (container, report):
        routed = routes(container)

    assert report.failures == ()
    assert [route["credit_tier"] for route in routed.values()] == tiers
    assert report.summary()["credit_restorations"] == (1 if "regular" in tiers else 0)


def test_labs_and_credit_events_repeat_for_a_seed() -> None:
    workload = replace(load_workload().scaled_to(80), lab_mismatch_share=0.6)

    def facts(seed: int) -> list[tuple[dict[str, object], tuple[CreditChangeFigures, ...]]]:
        reports = simulate(replace(workload, seed=seed), ("gacc-2026",))
        assert all(report.failures == () for report in reports)
        return [({k: v for k, v in r.summary().items() if k != "seconds"}, r.credit_changes) for r in reports]

    once = facts(workload.seed)
    (summary, changes), *_ = once
    assert int(str(summary["lab_corrections"])) > 0 and int(str(summary["credit_downgrades"])) > 0
    assert {figures.kind for figures in changes} == {"downgrade", "discredit", "restoration"}
    assert facts(workload.seed) == once
    assert facts(workload.seed + 1) != once
