"""The policy-impact simulator's runner: one scratch SQLite database per profile, the workload driven through the bus.

Each profile's run adopts that profile for the workload's district (a generated districts.toml), walks simulated
working days (workflow/simulation/agenda.py) and takes every application and declaration through the real handlers:
submit, screening (called directly, as the worker would), accept, review, the assessment the rules refer, grant,
then declarations against the certificate until it is used up or expires. docs/simulator.md describes the model.
"""

from __future__ import annotations

import hashlib
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event

from config.bootstrap import Container, bootstrap
from config.holidays import load_calendar
from config.profiles import load_districts, load_policies
from config.settings import load_settings
from simulator.counts import count_profile
from simulator.facts import RegisteredLab, credit_changes, lab_for, mismatch_draws, register_labs
from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import SYSTEM_ACTOR, Actor, Role
from workflow.domain.assessment import Opinion
from workflow.domain.credit_events import ApplyCreditRestorations
from workflow.domain.draws import KEY_BYTES, commitment, next_period, period_of
from workflow.domain.errors import DomainError, InvalidInput
from workflow.domain.goods import GoodsLine, WriteOffMode
from workflow.domain.policy import Policy
from workflow.domain.uscc import check_digit
from workflow.simulation.agenda import Agenda, SimulatedClock
from workflow.simulation.report import ProfileReport
from workflow.simulation.workload import (
    Duration,
    Enterprise,
    Shipment,
    Workload,
    enterprises,
    first_time_pairs,
    shipments,
)
from workflow.store.directory import create_user, ensure_credit, ensure_enterprise
from workflow.store.enterprise_admin import make_admin
from workflow.store.migrate import upgrade
from workflow.store.tables import DrawKeyRow

PROFILES = ("legacy-2015", "xiamen-2016", "gacc-2026")
OFFICERS = (Role.ACCEPTOR, Role.REVIEWER, Role.DECIDER, Role.HEAD, Role.PORT_OFFICER, Role.AUDITOR)
PANEL_EXPERTS = 5
ADOPTED_FROM = date(2015, 1, 1)  # the calendar's first day: the profile holds for the warm-up and the whole year
PDF = b"%PDF-1.4\n% specgoods simulated attachment\n%%EOF\n"
Advance = Callable[[int], None]


def simulate(
    workload: Workload,
    profiles: tuple[str, ...] = PROFILES,
    progress: Callable[[str, int], Advance] | None = None,
    jobs: int = 1,
) -> list[ProfileReport]:
    """Every profile over the same seeded year, `jobs` at a time in worker processes (1: in this process).

    `progress(profile, shipments)` returns what is told the number of shipments handled as they are.
    """
    check_profiles(profiles)
    year = shipments(workload, load_calendar(), random.Random(workload.seed))
    if jobs > 1 and len(profiles) > 1:
        from simulator.jobs import simulate_in_processes

        return simulate_in_processes(workload, profiles, year, progress, jobs)
    return [
        simulate_profile(workload, profile, year, progress(profile, len(year)) if progress else None)
        for profile in profiles
    ]


def check_profiles(profiles: tuple[str, ...]) -> None:
    """At least one profile, each a known one: refused before any database is made."""
    known = load_policies()
    if not profiles:
        raise InvalidInput("name at least one policy profile", field="profiles")
    for profile in profiles:
        if profile not in known:
            raise InvalidInput(
                f"unknown policy profile {profile!r} (known: {', '.join(sorted(known))})", field="profiles"
            )


def simulate_profile(
    workload: Workload, profile: str, year: list[Shipment], advance: Advance | None = None
) -> ProfileReport:
    """One profile's year in a temporary folder, counted from its database; `advance(1)` per shipment handled."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="specgoods-simulate-") as folder:
        clock = SimulatedClock(date(workload.year - 1, 9, 1))
        container = scratch_container(Path(folder), workload.district, profile, clock)
        try:
            run = Run(container, workload, clock, advance)
            run.play(year)
            report = count_profile(container, workload, run.tiers, year, tuple(run.failures))
        finally:
            container.dispose()
    return replace(report, seconds=time.perf_counter() - began)


# -- the scratch database ---------------------------------------------------------------------------------------------


def scratch_container(folder: Path, district: str, profile: str, clock: SimulatedClock) -> Container:
    """A migrated SQLite file in `folder` whose district adopts `profile` from 2015; commits are not fsynced."""
    url = f"sqlite:///{folder / 'simulation.sqlite3'}"
    upgrade(url)
    settings = load_settings(
        database_url=url, instance_path=folder / "instance", districts_file=_districts_file(folder, district, profile)
    )
    container = bootstrap(settings, clock=clock, relay_after_commit=False)
    # A scratch file thrown away after the run: durability buys nothing here, and fsync per commit costs most.
    event.listen(container.engine, "connect", lambda connection, _: connection.execute("PRAGMA synchronous=OFF"))
    container.engine.dispose()
    return container


def _districts_file(folder: Path, district: str, profile: str) -> Path:
    check_profiles((profile,))
    known = load_districts().by_code
    if district not in known:
        raise InvalidInput(f"unknown district {district!r} (known: {', '.join(sorted(known))})", field="district")
    found = known[district]
    path = folder / "districts.toml"
    path.write_text(
        f"[districts.{district}]\n"
        f'name_zh = "{found.name_zh}"\nname_en = "{found.name_en}"\ntime_zone = "{found.time_zone}"\n'
        f'is_direct_customs = true\napproving_customs = "{district}"\n'
        f'adoptions = [{{ policy = "{profile}", effective_from = {ADOPTED_FROM.isoformat()} }}]\n',
        encoding="utf-8",
    )
    return path


def seed_draw_keys(container: Container, district: str, seed: int, first: date, last: date) -> None:
    """E2's period keys from `first`'s month to `last`'s, made from the seed: the same seed draws the same inspections.

    The service finds every key it needs already made, so it never makes one from the CSPRNG during the run.
    """
    period, end = period_of(first), next_period(period_of(last))
    with container.sessions() as session, session.begin():
        while period != end:
            key = hashlib.sha256(f"{seed}/{district}/{period}".encode()).digest()[:KEY_BYTES]
            session.add(DrawKeyRow(district=district, period=period, key_hex=key.hex(), commitment=commitment(key),
                                   created_at=datetime(2015, 1, 1)))  # fmt: skip
            period = next_period(period)


# -- one run ----------------------------------------------------------------------------------------------------------


@dataclass
class Held:
    """A certificate the enterprise holds: its number, its last valid day and the quantity it has left."""

    certificate_no: str
    valid_until: date
    remaining: Decimal
    single_use: bool  # R40: a grade written off at one time is used up by its first declaration

    def covers(self, shipment: Shipment, day: date) -> bool:
        return day <= self.valid_until and self.remaining >= shipment.quantity


@dataclass
class Account:
    """One enterprise's one product: the certificates it holds, the quantity applied for, the shipments waiting.

    A shipment no certificate covers waits; the enterprise files another application when the quantity already
    applied for does not cover the shipments waiting (so single-use files run side by side, one per shipment).
    """

    held: list[Held] = field(default_factory=list)
    applied_for: Decimal = Decimal(0)
    waiting: list[Shipment] = field(default_factory=list)

    def covering(self, shipment: Shipment, day: date) -> Held | None:
        self.held = [
            certificate for certificate in self.held if day <= certificate.valid_until and certificate.remaining
        ]
        return next((certificate for certificate in self.held if certificate.covers(shipment, day)), None)

    def short(self) -> bool:
        return sum((shipment.quantity for shipment in self.waiting), Decimal(0)) > self.applied_for


class Run:
    """The year of one profile: the directory, the warm-up grants, then every shipment, step by step on the agenda."""

    def __init__(self, container: Container, workload: Workload, clock: SimulatedClock, advance: Advance | None):
        self.container, self.workload, self.bus = container, workload, container.bus
        self.calendar = container.deps.calendar
        self.policy: Policy = container.deps.policies.policy_for(workload.district, date(workload.year, 1, 1))
        self.agenda, self.advance = Agenda(clock), advance or (lambda done: None)
        self.rng = random.Random(workload.seed)
        self.accounts: dict[tuple[str, str], Account] = {}
        self.applicants: dict[str, Actor] = {}
        self.tiers: dict[int, str] = {}  # enterprise id -> tier, for the inspections by tier
        self.officers: dict[Role, Actor] = {}
        self.filed: dict[int, tuple[str, str]] = {}  # application id -> (enterprise, product)
        self.failures: list[str] = []
        self.labs: dict[str, tuple[RegisteredLab, ...]] = {}
        self.corrected: set[int] = set()  # applications whose correction notice (R17, R62) was sent
        self.mismatches = mismatch_draws(workload.seed)

    def play(self, year: list[Shipment]) -> None:
        self._directory()
        self._labs()
        self._draw_keys()
        self._credit_events()
        self._warm_up()
        for shipment in year:
            self.agenda.at(shipment.day, partial(self._arrive, shipment))
        self.agenda.run()

    # -- set-up --

    def _directory(self) -> None:
        now, district = self.container.deps.clock.now(), self.workload.district
        with self.container.sessions() as session, session.begin():
            for role in OFFICERS:
                user = create_user(session, username=f"sim.{role.value}", role=role, password_hash="", now=now,
                                   district=district)  # fmt: skip
                self.officers[role] = Actor(user.id, role, user.username, district=district)
            for n in range(PANEL_EXPERTS):  # R61: a panel of five
                create_user(session, username=f"sim.expert{n}", role=Role.EXPERT, password_hash="", now=now,
                            district=district)  # fmt: skip
            for index, firm in enumerate(enterprises(self.workload), start=1):
                self._enterprise(session, index, firm, now)

    def _enterprise(self, session: Any, index: int, firm: Enterprise, now: datetime) -> None:
        body = f"913502{index:011d}"
        row = ensure_enterprise(session, name=f"{firm.group.name_zh} {firm.key}", uscc=body + check_digit(body),
                                district=self.workload.district, now=now)  # fmt: skip
        tier = self._tier(firm)
        ensure_credit(session, enterprise_id=row.id, tier=tier, regime=self.policy.credit.regime.value,
                      effective_from=firm.group.tier_since or ADOPTED_FROM)  # fmt: skip
        self.tiers[row.id] = tier
        user = create_user(session, username=f"sim.{firm.key}", role=Role.APPLICANT, password_hash="", now=now,
                           enterprise_id=row.id)  # fmt: skip
        make_admin(session, user.username)  # it keeps the enterprise's labs (R9(b))
        self.applicants[firm.key] = Actor(user.id, Role.APPLICANT, user.username, enterprise_id=row.id)

    def _tier(self, firm: Enterprise) -> str:
        regime = self.policy.credit.regime.value
        tier = firm.group.tiers.get(regime)
        if tier is None or tier not in self.policy.credit.tiers:
            known = ", ".join(sorted(self.policy.credit.tiers))
            raise InvalidInput(
                f"enterprises.{firm.group.code}.tiers: {self.policy.id} needs a {regime} tier (one of {known})",
                field="tiers",
            )
        return tier.value

    def _labs(self) -> None:
        """Every enterprise's labs, registered and verified before the warm-up, valid to the end of the next year."""
        validity = (ADOPTED_FROM, date(self.workload.year + 1, 12, 31))
        acceptor = self.officers[Role.ACCEPTOR]
        for firm in enterprises(self.workload):
            self.labs[firm.key] = register_labs(self.container, firm, self.applicants[firm.key], acceptor, validity)

    def _credit_events(self) -> None:
        """The groups' credit changes, each recorded the day before it takes effect; the restoration sweep daily."""
        regime, decider = self.policy.credit.regime.value, self.officers[Role.DECIDER]
        for firm in enterprises(self.workload):
            enterprise_id = self.applicants[firm.key].enterprise_id or 0
            for change in credit_changes(firm, enterprise_id, decider, regime):
                self.agenda.at(change.record_on, partial(self._guarded, partial(self.bus.handle, change.command)))
        day, last = date(self.workload.year, 1, 1), date(self.workload.year, 12, 31)
        while day <= last:  # the beat's daily sweep (R69, R71): restores who the profile's period has passed
            self.agenda.at(day, partial(self._guarded, partial(self.bus.handle, ApplyCreditRestorations(SYSTEM_ACTOR))))
            day = date.fromordinal(day.toordinal() + 1)

    def _draw_keys(self) -> None:
        last = date(self.workload.year + 1, 12, 31)
        seed_draw_keys(self.container, self.workload.district, self.workload.seed, self.agenda.clock.day, last)

    def _warm_up(self) -> None:
        """The pairs not first-time get one grant in the autumn before the year (R60 then knows the product)."""
        known = {(firm.key, use.product) for firm in enterprises(self.workload) for use in firm.group.uses}
        known -= first_time_pairs(self.workload, self.rng)
        start = self.calendar.next_working_day(self.agenda.clock.day)
        for key in sorted(known):
            self.agenda.at(start, partial(self._grant_before, key))

    def _grant_before(self, key: tuple[str, str]) -> None:
        self._file(key, self.workload.products[key[1]].qty_per_shipment, warm=True)

    # -- shipments and applications --

    def _arrive(self, shipment: Shipment) -> None:
        self.advance(1)
        self._ship(shipment)

    def _ship(self, shipment: Shipment) -> None:
        key = (shipment.enterprise, shipment.product)
        account = self.accounts.setdefault(key, Account())
        certificate = account.covering(shipment, self.agenda.clock.day)
        if certificate is not None:
            self._declare(certificate, shipment)
            return
        account.waiting.append(shipment)
        if account.short():
            quantity = self._quantity(shipment)
            if self._file(key, quantity, warm=False) is not None:
                account.applied_for += quantity

    def _line(self, key: tuple[str, str], quantity: Decimal, mismatch: bool = False) -> GoodsLine:
        """The goods line; pathogen goods name a lab of the enterprise (R14), below their level when `mismatch`."""
        product = self.workload.products[key[1]]
        line = product.line(key[0], quantity)
        if not line.contains_pathogen:
            return line
        return product.line(key[0], quantity, lab_for(line, self.labs.get(key[0], ()), self.policy, mismatch))

    def _mismatched(self, key: tuple[str, str]) -> bool:
        """Whether this filing names a lab below the goods' level: a draw on its own stream, pathogen goods only."""
        product = self.workload.products[key[1]]
        pathogen = product.pathogen_class is not None or product.may_contain_unknown_agent
        return pathogen and self.mismatches.random() < self.workload.lab_mismatch_share

    def _quantity(self, shipment: Shipment) -> Decimal:
        """Single-use: one shipment. Multi-use (R41): the shipments expected over the validity, with headroom."""
        line = self._line((shipment.enterprise, shipment.product), shipment.quantity)
        grade = rules.grade_application([line], self.workload.products[shipment.product].direction, self.policy).result
        if rules.write_off_mode(grade, self.policy).result is WriteOffMode.SINGLE:
            return shipment.quantity
        months = rules.validity_months(grade, self.policy).result
        rate = self._rate(shipment.enterprise, shipment.product)
        expected = max(1, math.ceil(rate * months * self.workload.quota_headroom))
        return shipment.quantity * expected

    def _rate(self, firm: str, product: str) -> float:
        group = next(group for group in self.workload.groups if firm.startswith(f"{group.code}-"))
        return next(use.shipments_per_month for use in group.uses if use.product == product)

    def _file(self, key: tuple[str, str], quantity: Decimal, warm: bool) -> int | None:
        applicant = self.applicants[key[0]]
        line = self._line(key, quantity, mismatch=not warm and self._mismatched(key))
        direction = self.workload.products[key[1]].direction
        try:
            application_id: int = self.bus.handle(
                c.CreateApplication(applicant, applicant.enterprise_id or 0, self.workload.district, direction, (line,))
            )
            for doc_type in rules.required_documents([line], direction, True, False).result:
                self.bus.handle(c.AttachDocument(applicant, application_id, doc_type, f"{doc_type}.pdf",
                                                 "application/pdf", PDF))  # fmt: skip
            self.bus.handle(c.SubmitApplication(applicant, application_id))
            self.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))
        except DomainError as error:
            self._failed(f"filing {key}", error)
            return None
        if not warm:
            self.filed[application_id] = key
        self._after(self.workload.timings.acceptance, lambda: self._accept(application_id))
        return application_id

    def _after(self, duration: Duration, step: Callable[[], None]) -> None:
        day = self.calendar.add_working_days(self.agenda.clock.day, duration.sample(self.rng))
        self.agenda.at(day, lambda: self._guarded(step))

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except DomainError as error:
            self._failed(getattr(step, "__name__", "step"), error)

    def _failed(self, what: str, error: DomainError) -> None:
        self.failures.append(f"{self.agenda.clock.day} {what}: {type(error).__name__}: {error}")

    def _accept(self, application_id: int) -> None:
        if self._lab_refused(application_id):  # R62 at the screening: one correction notice names the mismatch
            reason = "实验室生物安全等级与物品风险不符"  # the notice itself names each mismatch (R17)
            self.bus.handle(c.RequestCorrection(self.officers[Role.ACCEPTOR], application_id, reason))
            self.corrected.add(application_id)
            self._after(self.workload.timings.correction, lambda: self._correct(application_id))
            return
        self.bus.handle(c.AcceptApplication(self.officers[Role.ACCEPTOR], application_id))
        self._after(self.workload.timings.review_start, lambda: self._review(application_id))

    def _lab_refused(self, application_id: int) -> bool:
        """What the screening recorded about the named labs (R9(b), R14, R62): False is a mismatch.

        Once per file: the corrected file is accepted, and the grant's guard (R62) would still refuse a lab that does
        not match. (A resubmission on the day of its first receipt keeps that day's screening: screening is once per
        day of receipt, so the runner does not read it twice.)
        """
        if application_id in self.corrected:
            return False
        with self.container.deps.uow() as uow:
            screening = uow.applications.get(application_id).screening or {}
        return (screening.get("biosafety") or {}).get("result") is False

    def _correct(self, application_id: int) -> None:
        """The applicant names the matching lab, resubmits (A3) and is screened again; then acceptance as usual."""
        with self.container.deps.uow() as uow:
            application = uow.applications.get(application_id)
        key = self.filed[application_id]
        applicant = self.applicants[key[0]]
        lines = tuple(self._line(key, line.quantity) for line in application.lines)
        self.bus.handle(c.ReviseDraft(applicant, application_id, application.direction, lines))
        self.bus.handle(c.ResubmitApplication(applicant, application_id))
        self.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))
        self._after(self.workload.timings.acceptance, lambda: self._accept(application_id))

    def _review(self, application_id: int) -> None:
        self.bus.handle(c.StartReview(self.officers[Role.REVIEWER], application_id))
        if self._assessment_required(application_id):
            self._refer(application_id)
        else:
            self._after(self.workload.timings.decision, lambda: self._grant(application_id))

    def _assessment_required(self, application_id: int) -> bool:
        """R32: the grade the goods take under the file's policy decides whether the reviewer refers it."""
        with self.container.deps.uow() as uow:
            application = uow.applications.get(application_id)
        grade = rules.grade_application(application.lines, application.direction, self.policy).result
        return rules.risk_assessment_route(grade, self.policy).result.required

    def _refer(self, application_id: int) -> None:
        reviewer = self.officers[Role.REVIEWER]
        started = self.bus.handle(c.ReferAssessment(reviewer, application_id, "R32: risk assessment"))
        if "outcome" in started:  # R63: an entity-level assessment reused, concluded at once
            self._after(self.workload.timings.decision, lambda: self._grant(application_id))
        elif "panel" in started:
            today, lead = self.agenda.clock.day, self.workload.timings.panel_opinion
            days = sorted(self.calendar.add_working_days(today, lead.sample(self.rng)) for _ in started["panel"])
            self._opinions(application_id, started["assessment_id"], list(zip(days, started["panel"], strict=True)))
        else:
            recorded = c.RecordHeadquartersOpinion(reviewer, started["assessment_id"], Opinion.PASS, "GACC HQ: pass")
            self._after(self.workload.timings.headquarters, lambda: self._concluded(application_id, recorded))

    def _opinions(self, application_id: int, assessment_id: int, seats: list[tuple[date, int]]) -> None:
        """The panel's opinions in the order they arrive; the file moves on once the panel can conclude."""
        (day, expert_id), rest = seats[0], seats[1:]

        def opinion() -> None:
            given = self.bus.handle(c.SubmitOpinion(Actor(expert_id, Role.EXPERT), assessment_id, Opinion.PASS))
            if given["concluded"]:
                self._after(self.workload.timings.decision, lambda: self._grant(application_id))
            elif rest:
                self._opinions(application_id, assessment_id, rest)

        self.agenda.at(day, lambda: self._guarded(opinion))

    def _concluded(self, application_id: int, recorded: c.RecordHeadquartersOpinion) -> None:
        self.bus.handle(recorded)
        self._after(self.workload.timings.decision, lambda: self._grant(application_id))

    def _grant(self, application_id: int) -> None:
        certificate_id = self.bus.handle(c.GrantApplication(self.officers[Role.DECIDER], application_id, "granted"))
        key = self.filed.get(application_id)
        if key is None:
            return  # a warm-up grant: it only makes the product known
        with self.container.deps.uow() as uow:
            certificate = uow.certificates.get(certificate_id)
        account = self.accounts[key]
        approved = sum((line.approved_qty for line in certificate.lines), Decimal(0))
        single = certificate.write_off_mode is WriteOffMode.SINGLE
        account.held.append(Held(certificate.certificate_no, certificate.valid_until, approved, single))
        account.applied_for -= approved
        waiting, account.waiting = account.waiting, []
        for shipment in waiting:
            self._ship(shipment)

    # -- declarations --

    def _declare(self, certificate: Held, shipment: Shipment) -> None:
        applicant = self.applicants[shipment.enterprise]
        direction = self.workload.products[shipment.product].direction
        declared = c.DeclareShipment(applicant, shipment.declaration_no, certificate.certificate_no,
                                     self.agenda.clock.day, direction, ((1, shipment.quantity),))  # fmt: skip
        try:
            result = self.bus.handle(declared)
        except DomainError as error:
            self._failed(f"declaring shipment {shipment.number}", error)
            return
        certificate.remaining = Decimal(0) if certificate.single_use else certificate.remaining - shipment.quantity
        if result["state"] == "inspection":
            inspected = c.RecordInspection(self.officers[Role.PORT_OFFICER], result["declaration_id"], outcome="pass")
            self._after(self.workload.timings.inspection, lambda: self.bus.handle(inspected))
        elif result["state"] not in ("released", "follow_up_pending"):
            self.failures.append(f"{self.agenda.clock.day} shipment {shipment.number}: {result['state']}")
