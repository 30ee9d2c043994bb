"""The policy-impact simulator (docs/simulator.md) on scratch SQLite databases: deterministic for a seed, counting what
the same commands produce through the bus directly, and the reform filing fewer applications than the legacy regime.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli.main import main
from config.bootstrap import Container
from config.simulation_workload import load_workload
from simulator.runner import scratch_container, seed_draw_keys, simulate, simulate_profile
from tests.conftest import ensure_experts, make_cast
from tests.integration.support import file_application, under_review
from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import Actor, Role
from workflow.domain.assessment import Opinion
from workflow.domain.goods import RiskGrade, WriteOffMode
from workflow.domain.policy import CreditTier, Policy
from workflow.simulation.agenda import SimulatedClock
from workflow.simulation.workload import Duration, EnterpriseGroup, ProductUse, Shipment, Timings, Workload

SAME_DAY = Duration(0, 0, 0)
SHIPMENT_DAYS = (date(2026, 3, 2), date(2026, 4, 1), date(2026, 5, 6))


def one_product(product: str) -> Workload:
    """One enterprise shipping one product three times; every step the same day, no product known before (R60)."""
    default = load_workload()
    tiers = {"order-225": CreditTier.GENERAL, "order-251": CreditTier.GENERAL, "order-282": CreditTier.REGULAR}
    group = EnterpriseGroup("solo", "单一企业", 1, tiers, (ProductUse(product, 0.25),))
    timings = Timings(*([SAME_DAY] * 6))
    return replace(default, first_time_share=1.0, quota_headroom=1.0, timings=timings, groups=(group,))


def three_shipments(workload: Workload, product: str) -> list[Shipment]:
    quantity = workload.products[product].qty_per_shipment
    return [Shipment(n, day, "solo-001", product, quantity) for n, day in enumerate(SHIPMENT_DAYS, start=1)]


# -- the same sequence through the bus, by hand -------------------------------------------------------------------


def by_hand(folder: Path, workload: Workload, profile: str, product: str) -> dict[str, Any]:
    """What the simulator should do, written out: file, screen, accept, review, assess if R32 says, grant, declare."""
    clock = SimulatedClock(SHIPMENT_DAYS[0])
    container = scratch_container(folder, "xiamen", profile, clock)
    try:
        seed_draw_keys(container, "xiamen", workload.seed, SHIPMENT_DAYS[0], date(2027, 12, 31))
        cast = make_cast(container)
        ensure_experts(container, "xiamen", 5)
        policy = container.deps.policies.policy_for("xiamen", SHIPMENT_DAYS[0])
        single = rules.write_off_mode(grade_of(workload, product, policy), policy).result is WriteOffMode.SINGLE
        certificate_no, remaining = "", Decimal(0)
        for number, shipment in enumerate(three_shipments(workload, product), start=1):
            clock.set(shipment.day)
            if remaining < shipment.quantity:
                wanted = shipment.quantity if single else shipment.quantity * 3  # R41: the year's three shipments
                certificate_no, remaining = granted(container, cast, workload, product, policy, wanted)
            declared = container.bus.handle(
                c.DeclareShipment(cast.applicant, f"SIM{number:09d}", certificate_no, shipment.day,
                                  workload.products[product].direction, ((1, shipment.quantity),))
            )  # fmt: skip
            if declared["state"] == "inspection":
                container.bus.handle(c.RecordInspection(cast.port_officer, declared["declaration_id"], outcome="pass"))
            remaining = Decimal(0) if single else remaining - shipment.quantity
        return counted(container)
    finally:
        container.dispose()


def grade_of(workload: Workload, product: str, policy: Policy) -> RiskGrade:
    line = workload.products[product].line("solo-001", Decimal(1))
    return rules.grade_application([line], workload.products[product].direction, policy).result


def granted(
    container: Container, cast: Any, workload: Workload, product: str, policy: Policy, quantity: Decimal
) -> tuple[str, Decimal]:
    grade = grade_of(workload, product, policy)
    line = workload.products[product].line("solo-001", quantity)
    application_id = file_application(container, cast, (line,), workload.products[product].direction)
    under_review(container, cast, application_id)
    if rules.risk_assessment_route(grade, policy).result.required:
        assess(container, cast.reviewer, application_id)
    certificate_id = container.bus.handle(c.GrantApplication(cast.decider, application_id, "granted"))
    with container.engine.connect() as conn:
        number = conn.scalar(text("SELECT certificate_no FROM certificates WHERE id = :id"), {"id": certificate_id})
    return str(number), quantity


def assess(container: Container, reviewer: Actor, application_id: int) -> None:
    started = container.bus.handle(c.ReferAssessment(reviewer, application_id, "R32: risk assessment"))
    if "panel" in started:
        for expert_id in started["panel"]:
            given = container.bus.handle(
                c.SubmitOpinion(Actor(expert_id, Role.EXPERT), started["assessment_id"], Opinion.PASS)
            )
            if given["concluded"]:
                return
    elif "outcome" not in started:
        container.bus.handle(
            c.RecordHeadquartersOpinion(reviewer, started["assessment_id"], Opinion.PASS, "GACC HQ: pass")
        )


def counted(container: Container) -> dict[str, Any]:
    queries = {
        "applications": "SELECT COUNT(*) FROM applications",
        "paperless": "SELECT COUNT(*) FROM applications WHERE paperless",
        "certificates": "SELECT COUNT(*) FROM certificates",
        "write_offs": "SELECT COUNT(*) FROM declarations WHERE released_on IS NOT NULL",
        "assessments": "SELECT COUNT(*) FROM risk_assessments",
    }
    with container.engine.connect() as conn:
        found: dict[str, Any] = {name: conn.scalar(text(sql)) for name, sql in queries.items()}
        routes = [
            json.loads(route) if isinstance(route, str) else route
            for (route,) in conn.execute(text("SELECT route FROM declarations"))
        ]
        found["inspected"] = sum(1 for route in routes if route and route.get("inspected"))
        roles = conn.execute(
            text(
                "SELECT actor_role, COUNT(*) FROM audit_events"
                " WHERE actor_role NOT IN ('applicant', 'system') GROUP BY actor_role"
            )
        )
        found["officer_actions"] = dict(sorted((role, int(n)) for role, n in roles))
    return found


def simulated(workload: Workload, profile: str, product: str) -> dict[str, Any]:
    report = simulate_profile(workload, profile, three_shipments(workload, product))
    assert report.failures == ()
    return {
        "applications": report.applications,
        "paperless": report.paperless,
        "certificates": report.certificates,
        "write_offs": report.write_offs,
        "assessments": sum(figures.started for figures in report.assessments),
        "inspected": report.inspected,
        "officer_actions": {
            role: n for role, n in report.actions_by_role.items() if role not in ("applicant", "system", "expert")
        },
    }


@pytest.mark.parametrize(
    ("profile", "product", "applications"),
    [
        ("legacy-2015", "il6", 3),  # R66: before the reform every certificate is single-use
        ("xiamen-2016", "il6", 1),  # R41: one application, many write-offs
        ("xiamen-2016", "plasma", 3),  # grade A: single-use (R40) and assessed by the local panel (R61)
        ("legacy-2015", "lysate", 3),  # grade B before the reform: headquarters' assessment (R61)
    ],
)
def test_the_simulator_counts_what_the_same_commands_produce_through_the_bus(
    tmp_path: Path, profile: str, product: str, applications: int
) -> None:
    workload = one_product(product)
    direct = by_hand(tmp_path, workload, profile, product)
    assert simulated(workload, profile, product) == direct
    assert direct["applications"] == applications and direct["write_offs"] == 3


def summaries(workload: Workload, profiles: tuple[str, ...], jobs: int = 1) -> dict[str, dict[str, object]]:
    reports = simulate(workload, profiles, jobs=jobs)
    assert all(report.failures == () for report in reports)
    return {report.profile: {k: v for k, v in report.summary().items() if k != "seconds"} for report in reports}


def test_the_simulator_is_deterministic_for_a_seed_in_this_process_or_in_worker_processes() -> None:
    workload, profiles = load_workload().scaled_to(40), ("gacc-2026", "xiamen-2016")
    once = summaries(workload, profiles)
    assert summaries(workload, profiles, jobs=2) == once
    assert summaries(replace(workload, seed=workload.seed + 1), profiles) != once


def test_the_reform_files_fewer_applications_than_the_legacy_regime_on_the_default_workload() -> None:
    found = summaries(load_workload().scaled_to(60), ("legacy-2015", "xiamen-2016"))
    legacy, reform = found["legacy-2015"], found["xiamen-2016"]
    assert legacy["shipments"] == reform["shipments"]
    assert legacy["applications"] == legacy["shipments"]  # R66: one application per shipment before the reform
    assert int(str(reform["applications"])) < int(str(legacy["applications"]))
    assert float(str(reform["write_offs_per_certificate"])) > 1.0


def test_specgoods_simulate_prints_json_and_writes_the_report_for_the_auditors_page(tmp_path: Path) -> None:
    arguments = ["simulate", "--shipments", "20", "--profiles", "legacy-2015", "--json", "--out", str(tmp_path / "out")]
    result = CliRunner(env={"SPECGOODS_INSTANCE_PATH": str(tmp_path / "instance")}).invoke(main, arguments)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["profiles"][0]["profile"] == "legacy-2015"
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert (tmp_path / "out" / "report.csv").read_text(encoding="utf-8").startswith("profile,")
    latest = json.loads((tmp_path / "instance" / "simulations" / "latest" / "report.json").read_text(encoding="utf-8"))
    assert latest["profiles"] == document["profiles"]  # the auditor's page shows what the command printed


def test_an_unknown_profile_is_refused_before_any_database_is_made(tmp_path: Path) -> None:
    runner = CliRunner(env={"SPECGOODS_INSTANCE_PATH": str(tmp_path / "instance")})
    result = runner.invoke(main, ["simulate", "--shipments", "20", "--profiles", "legacy-2015,nope"])
    assert result.exit_code == 2
    assert "profiles: unknown policy profile 'nope'" in result.stderr and "gacc-2026" in result.stderr
    assert not (tmp_path / "instance").exists()
