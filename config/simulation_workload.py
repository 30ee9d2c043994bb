"""Loads a simulator workload (config/simulation/*.toml) into workflow.simulation's values, validated by pydantic.

A malformed file raises PolicyError naming the file, the key path and the reason, as the policy loader does.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from config.profiles import _validate
from workflow.domain.credit_events import CreditChangeKind, CreditGround
from workflow.domain.goods import Direction, GoodsCategory, ProteinPurity
from workflow.domain.policy import CreditRegime, CreditTier
from workflow.simulation.workload import (
    CreditEvent,
    Duration,
    EnterpriseGroup,
    Lab,
    Product,
    ProductUse,
    Timings,
    Workload,
)

DEFAULT_WORKLOAD = Path(__file__).resolve().parent / "simulation" / "default.toml"

Days = Annotated[StrictInt, Field(ge=0, le=250)]
Text = Annotated[StrictStr, Field(min_length=1)]
Code = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Share = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Timings(_Model):
    acceptance: tuple[Days, Days, Days]
    review_start: tuple[Days, Days, Days]
    decision: tuple[Days, Days, Days]
    panel_opinion: tuple[Days, Days, Days]
    headquarters: tuple[Days, Days, Days]
    inspection: tuple[Days, Days, Days]
    correction: tuple[Days, Days, Days] = (1, 2, 5)

    @model_validator(mode="after")
    def _ordered(self) -> _Timings:
        for name, (low, mode, high) in self:
            if not low <= mode <= high:
                raise ValueError(f"{name}: [low, mode, high] must satisfy low <= mode <= high")
        return self


class _Product(_Model):
    name_zh: Text
    name_en: Text
    category: GoodsCategory
    unit: Text
    qty_per_shipment: Annotated[Decimal, Field(gt=0)]
    direction: Direction = Direction.ENTRY
    protein_purity: ProteinPurity = ProteinPurity.NOT_A_PROTEIN
    is_commercial_cell_line: StrictBool = False
    involves_hgr: StrictBool = False
    pathogen_class: Annotated[StrictInt, Field(ge=1, le=4)] | None = None
    may_contain_unknown_agent: StrictBool = False


class _Lab(_Model):
    key: Code
    name_zh: Text
    bsl_level: Annotated[StrictInt, Field(ge=1, le=4)]
    accreditation_no: StrictStr = ""
    valid_from: date | None = None
    valid_until: date | None = None

    @model_validator(mode="after")
    def _accredited(self) -> _Lab:
        if self.bsl_level >= 3 and not self.accreditation_no.strip():
            raise ValueError(f"labs.{self.key}: BSL-3 and above need an accreditation_no (R14)")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError(f"labs.{self.key}: valid_until is before valid_from")
        return self


class _CreditEvent(_Model):
    count: Annotated[StrictInt, Field(ge=1, le=10_000)]
    kind: CreditChangeKind
    on: date
    tiers: dict[CreditRegime, CreditTier] = Field(min_length=1)
    ground: CreditGround


class _Use(_Model):
    product: Code
    shipments_per_month: Annotated[float, Field(gt=0, le=200)]


class _Group(_Model):
    code: Code
    name_zh: Text
    count: Annotated[StrictInt, Field(ge=1, le=10_000)]
    tiers: dict[CreditRegime, CreditTier] = Field(min_length=1)
    products: list[_Use] = Field(min_length=1)
    labs: list[_Lab] = []
    credit_events: list[_CreditEvent] = []
    tier_since: date | None = None

    @model_validator(mode="after")
    def _distinct_labs(self) -> _Group:
        keys = [lab.key for lab in self.labs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"enterprises.{self.code}.labs: each lab needs its own key")
        return self


class _Workload(_Model):
    seed: StrictInt
    year: Annotated[StrictInt, Field(ge=2016, le=2026)]
    district: Code
    first_time_share: Share
    quota_headroom: Annotated[float, Field(ge=1, le=10)]
    lab_mismatch_share: Share = 0.0
    timings: _Timings
    products: dict[Code, _Product] = Field(min_length=1)
    enterprises: list[_Group] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> _Workload:
        codes = [group.code for group in self.enterprises]
        if len(set(codes)) != len(codes):
            raise ValueError("enterprises: each group needs its own code")
        for group in self.enterprises:
            for use in group.products:
                if use.product not in self.products:
                    raise ValueError(f"enterprises.{group.code}: unknown product {use.product!r}")
            for event in group.credit_events:
                if not date(self.year, 1, 2) <= event.on <= date(self.year, 12, 31):
                    raise ValueError(f"enterprises.{group.code}.credit_events: {event.on} is not in {self.year}")
        return self


def load_workload(path: Path | str | None = None) -> Workload:
    """The workload in `path` (default config/simulation/default.toml), validated."""
    path = DEFAULT_WORKLOAD if path is None else Path(path)
    return _to_workload(_validate(path, _Workload))


def _to_workload(content: _Workload) -> Workload:
    return Workload(
        seed=content.seed,
        year=content.year,
        district=content.district,
        first_time_share=content.first_time_share,
        quota_headroom=content.quota_headroom,
        lab_mismatch_share=content.lab_mismatch_share,
        timings=Timings(**{name: Duration(*days) for name, days in content.timings}),
        products={code: Product(code=code, **product.model_dump()) for code, product in content.products.items()},
        groups=tuple(_to_group(group) for group in content.enterprises),
    )


def _to_group(group: _Group) -> EnterpriseGroup:
    uses = tuple(ProductUse(use.product, use.shipments_per_month) for use in group.products)
    tiers = {regime.value: tier for regime, tier in group.tiers.items()}
    labs = tuple(Lab(**lab.model_dump()) for lab in group.labs)
    events = tuple(
        CreditEvent(event.count, event.kind, event.on, {r.value: t for r, t in event.tiers.items()}, event.ground)
        for event in group.credit_events
    )
    return EnterpriseGroup(group.code, group.name_zh, group.count, tiers, uses, labs, events, group.tier_since)
