"""A district's workload as values (enterprises, products, rates, step durations) and its seeded year of shipments.

The loader (config/simulation_workload.py) validates a TOML file into these; docs/simulator.md explains each field.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from workflow.domain.calendar import WorkingCalendar
from workflow.domain.credit_events import CreditChangeKind, CreditGround
from workflow.domain.goods import Direction, GoodsCategory, GoodsLine, ProteinPurity
from workflow.domain.policy import CreditTier

DECLARATION_PREFIX = "SIM"


@dataclass(frozen=True)
class Duration:
    """Working days a step takes: a triangular distribution (low, mode, high), rounded; low = high is fixed."""

    low: int
    mode: int
    high: int

    def sample(self, rng: random.Random) -> int:
        if self.low == self.high:
            return self.low
        return round(rng.triangular(self.low, self.high, self.mode))


@dataclass(frozen=True)
class Timings:
    """Working days per step; the panel and headquarters durations are the expert lead times of R61."""

    acceptance: Duration  # submitted -> accepted
    review_start: Duration  # accepted -> review started (and referred, when the rules ask for an assessment)
    decision: Duration  # review done (or assessment concluded) -> granted
    panel_opinion: Duration  # referred -> each local expert's opinion (direct customs panel)
    headquarters: Duration  # referred -> headquarters' conclusion recorded (legacy-2015's GACC HQ route)
    inspection: Duration  # declared and drawn for inspection -> inspection passed at the port
    correction: Duration = Duration(1, 2, 5)  # correction notice (R17) -> the applicant's corrected file resubmitted


@dataclass(frozen=True)
class Product:
    """A kind of goods: the facts the rules grade; one that contains a pathogen names a user lab (R14, R62)."""

    code: str
    name_zh: str
    name_en: str
    category: GoodsCategory
    unit: str
    qty_per_shipment: Decimal
    direction: Direction = Direction.ENTRY
    protein_purity: ProteinPurity = ProteinPurity.NOT_A_PROTEIN
    is_commercial_cell_line: bool = False
    involves_hgr: bool = False
    pathogen_class: int | None = None  # the catalogue's class 1-4 of the pathogen it contains
    may_contain_unknown_agent: bool = False

    def line(self, holder: str, quantity: Decimal, lab_id: int | None = None) -> GoodsLine:
        """The goods line an enterprise files; `holder` in the specification keeps each enterprise's product its own."""
        return GoodsLine(
            name_zh=self.name_zh,
            name_en=self.name_en,
            category=self.category,
            quantity=quantity,
            unit=self.unit,
            specification=f"{self.code} ({holder})",
            manufacturer="simulated",
            origin_country="US",
            intended_use="科研",
            protein_purity=self.protein_purity,
            is_commercial_cell_line=self.is_commercial_cell_line,
            involves_hgr=self.involves_hgr,
            pathogen_class=self.pathogen_class,
            may_contain_unknown_agent=self.may_contain_unknown_agent,
            lab_id=lab_id,
        )


@dataclass(frozen=True)
class ProductUse:
    """How often one enterprise of a group ships a product: a mean number of shipments per month (Poisson)."""

    product: str
    shipments_per_month: float


@dataclass(frozen=True)
class Lab:
    """One laboratory every enterprise of a group keeps (R9(b), R14): registered and verified before the year."""

    key: str
    name_zh: str
    bsl_level: int
    accreditation_no: str = ""  # R14: BSL-3 and above are accredited (by CNAS)
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class CreditEvent:
    """A change of credit (R72, R73) recorded for the first `count` enterprises of a group, effective on `on`."""

    count: int
    kind: CreditChangeKind
    on: date
    tiers: Mapping[str, CreditTier]  # the new tier per credit regime; a regime not named has no such event
    ground: CreditGround


@dataclass(frozen=True)
class EnterpriseGroup:
    """`count` alike enterprises: one credit tier per credit regime (a profile reads its own regime's)."""

    code: str
    name_zh: str
    count: int
    tiers: Mapping[str, CreditTier]
    uses: tuple[ProductUse, ...]
    labs: tuple[Lab, ...] = ()
    credit_events: tuple[CreditEvent, ...] = ()
    tier_since: date | None = None  # the day the tier began (restoration periods count from it); None: long before


@dataclass(frozen=True)
class Workload:
    """A district's year: who ships what how often, how long each step takes, and how much a multi-use file asks."""

    seed: int
    year: int
    district: str
    first_time_share: float  # share of (enterprise, product) pairs never granted before the year
    quota_headroom: float  # a multi-use application asks for expected shipments over its validity x this
    timings: Timings
    products: Mapping[str, Product]
    groups: tuple[EnterpriseGroup, ...]
    lab_mismatch_share: float = 0.0  # share of pathogen filings naming a lab below the goods' level (R62)

    def expected_shipments(self) -> float:
        return sum(group.count * use.shipments_per_month * 12 for group in self.groups for use in group.uses)

    def scaled_to(self, shipments: int) -> Workload:
        """About `shipments` a year: a busier district has more enterprises of each group, not busier ones."""
        factor = shipments / max(self.expected_shipments(), 1e-9)
        groups = tuple(replace(group, count=max(1, round(group.count * factor))) for group in self.groups)
        return replace(self, groups=groups)


@dataclass(frozen=True)
class Enterprise:
    """One simulated enterprise: `key` names it in the scratch database (its USCC and users derive from it)."""

    key: str
    group: EnterpriseGroup
    number: int = 1  # its place in the group (a group's credit event names its first `count`)


@dataclass(frozen=True)
class Shipment:
    """One consignment to clear: an enterprise ships `quantity` of a product on `day`."""

    number: int
    day: date
    enterprise: str
    product: str
    quantity: Decimal

    @property
    def declaration_no(self) -> str:
        """The number it is declared under: the count reads the shipment back from it (arrival to release)."""
        return f"{DECLARATION_PREFIX}{self.number:09d}"

    @staticmethod
    def number_of(declaration_no: str) -> int | None:
        digits = declaration_no.removeprefix(DECLARATION_PREFIX)
        return int(digits) if declaration_no.startswith(DECLARATION_PREFIX) and digits.isdigit() else None


def enterprises(workload: Workload) -> list[Enterprise]:
    return [
        Enterprise(f"{group.code}-{n:03d}", group, n) for group in workload.groups for n in range(1, group.count + 1)
    ]


def first_time_pairs(workload: Workload, rng: random.Random) -> set[tuple[str, str]]:
    """The (enterprise, product) pairs with no grant before the year; the others get one before it starts."""
    pairs = [(firm.key, use.product) for firm in enterprises(workload) for use in firm.group.uses]
    return {pair for pair in pairs if rng.random() < workload.first_time_share}


def shipments(workload: Workload, calendar: WorkingCalendar, rng: random.Random) -> list[Shipment]:
    """The year's shipments in date order, each on a working day; the same seed yields the same list."""
    drawn = sorted(_draw(workload, calendar, rng), key=lambda item: (item[0], item[1], item[2]))
    return [
        Shipment(number, day, firm, product, workload.products[product].qty_per_shipment)
        for number, (day, firm, product) in enumerate(drawn, start=1)
    ]


def _draw(workload: Workload, calendar: WorkingCalendar, rng: random.Random) -> Iterator[tuple[date, str, str]]:
    for firm in enterprises(workload):
        for use in firm.group.uses:
            for month in range(1, 13):
                for _ in range(_poisson(rng, use.shipments_per_month)):
                    yield _working_day_in(workload.year, month, calendar, rng), firm.key, use.product


def _working_day_in(year: int, month: int, calendar: WorkingCalendar, rng: random.Random) -> date:
    first = date(year, month, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    day = first + timedelta(days=rng.randrange((last - first).days + 1))
    return day if calendar.is_working_day(day) else calendar.next_working_day(day)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact for the small monthly means a workload has (random has no Poisson of its own)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
