"""The Policy value object: one profile's grades, validity, write-off, paperless, assessment, credit and time limits.

Every number or switch that differs between regimes or that DOMAIN.md marks [D] is data here, so rules.py never
branches on a district or profile name. config/profiles.py loads profiles from TOML; Districts picks one by date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from workflow.domain.biosafety import BiosafetyRule
from workflow.domain.clock import ClockLimits
from workflow.domain.errors import InvalidInput, NotFound, PolicyError
from workflow.domain.goods import Direction, RiskGrade, WriteOffMode

# Every Fujian district keeps Beijing time; a district may name another IANA zone in config/districts.toml.
DEFAULT_TIME_ZONE = "Asia/Shanghai"


class CreditTier(StrEnum):
    """Customs enterprise credit tiers across every regime (R69–R71); each regime uses a subset."""

    ADVANCED_CERTIFIED = "advanced_certified"  # 高级认证 (AEO)
    GENERAL_CERTIFIED = "general_certified"  # 一般认证: Orders 225 and 237 only
    CERTIFIED = "certified"  # 认证: Order 282
    GENERAL = "general"  # 一般信用
    REGULAR = "regular"  # 常规: Order 282
    DISCREDITED = "discredited"  # 失信
    SERIOUSLY_DISCREDITED = "seriously_discredited"  # 严重失信: Order 282


class CreditRegime(StrEnum):
    """The customs credit order a tier was awarded under (R68–R71); records of different regimes never mix."""

    ORDER_225 = "order-225"
    ORDER_237 = "order-237"
    ORDER_251 = "order-251"
    ORDER_282 = "order-282"

    @property
    def tiers(self) -> frozenset[CreditTier]:
        return _REGIME_TIERS[self]

    @property
    def rule_id(self) -> str:
        """The DOMAIN.md rule that describes this regime's inspection effect."""
        return _REGIME_RULE_IDS[self]


_CERTIFIED_FOUR = frozenset(
    {CreditTier.ADVANCED_CERTIFIED, CreditTier.GENERAL_CERTIFIED, CreditTier.GENERAL, CreditTier.DISCREDITED}
)
_REGIME_TIERS: Mapping[CreditRegime, frozenset[CreditTier]] = MappingProxyType(
    {
        CreditRegime.ORDER_225: _CERTIFIED_FOUR,
        CreditRegime.ORDER_237: _CERTIFIED_FOUR,
        CreditRegime.ORDER_251: frozenset({CreditTier.ADVANCED_CERTIFIED, CreditTier.GENERAL, CreditTier.DISCREDITED}),
        CreditRegime.ORDER_282: frozenset(
            {
                CreditTier.ADVANCED_CERTIFIED,
                CreditTier.CERTIFIED,
                CreditTier.REGULAR,
                CreditTier.DISCREDITED,
                CreditTier.SERIOUSLY_DISCREDITED,
            }
        ),
    }
)
# Order 225 predates the merger; its effect on special goods is the CIQ-era one of R68.
_REGIME_RULE_IDS: Mapping[CreditRegime, str] = MappingProxyType(
    {
        CreditRegime.ORDER_225: "R68",
        CreditRegime.ORDER_237: "R69",
        CreditRegime.ORDER_251: "R70",
        CreditRegime.ORDER_282: "R71",
    }
)


class AssessorLevel(StrEnum):
    """Who runs the expert risk assessment of high-risk goods (R61)."""

    DIRECT_CUSTOMS = "direct_customs"
    GACC_HQ = "gacc_hq"


class PanelConclusion(StrEnum):
    """How a quorate expert panel reaches its conclusion ([D]; the sources give no voting rule)."""

    MAJORITY = "majority"
    UNANIMOUS = "unanimous"


@dataclass(frozen=True)
class PaperlessRule:
    """R58–R60 and §8 Q4: the grades and directions that may skip paper, and whether first-time applications may."""

    grades: frozenset[RiskGrade]
    directions: frozenset[Direction]
    first_time_excluded: bool


@dataclass(frozen=True)
class RiskAssessmentRule:
    """R32, R61, R63: who assesses which grades, the panel's size and quorum, and entity-level reuse."""

    assessor_level: AssessorLevel
    required_for: frozenset[RiskGrade]
    panel_size: int
    quorum: int
    conclusion: PanelConclusion
    hq_lead_time_working_days: int
    entity_reuse_months: int
    opinion_working_days: int = 5


@dataclass(frozen=True)
class FollowUpRule:
    """R53–R54: the grades and directions under follow-up supervision and the user's report window."""

    grades: frozenset[RiskGrade]
    directions: frozenset[Direction]
    report_window_days: int


@dataclass(frozen=True)
class DeclarationRule:
    """R39 / D2: how many days before the district's local today a declaration may be dated (never after it)."""

    backdating_days: int


@dataclass(frozen=True)
class AmendmentRule:
    """R43: the certificate particulars a holder may have amended without a new application (the rest needs one)."""

    fields: frozenset[str] = frozenset({"contact_person", "phone", "agent"})


@dataclass(frozen=True)
class InspectionRule:
    """§(e) E1: the physical-check baseline per grade, and the grades always checked in full.

    E4: a declaration drawn for inspection and withdrawn before it passes its pending inspection to the same
    certificate line's declarations routed within `withdrawal_carry_days` of the withdrawal.
    """

    baseline: Mapping[RiskGrade, Decimal] = field(hash=False)
    full_check_grades: frozenset[RiskGrade]
    withdrawal_carry_days: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline", MappingProxyType(dict(self.baseline)))


@dataclass(frozen=True)
class CreditTerms:
    """What one credit tier changes: a modifier on the baseline, a floor, and the facilitations it keeps."""

    modifier: Decimal
    floor: Decimal
    paperless_allowed: bool
    assessment_reuse_allowed: bool


@dataclass(frozen=True)
class RestorationRule:
    """R69, R71: a tier an enterprise leaves for `to_tier` after `after_months` without a discredit event."""

    from_tier: CreditTier
    to_tier: CreditTier
    after_months: int
    rule_id: str


@dataclass(frozen=True)
class CreditRule:
    """R65, R68–R73: the credit regime the profile reads, its tiers' terms, and the tier of an unrated enterprise."""

    regime: CreditRegime
    tiers: Mapping[CreditTier, CreditTerms] = field(hash=False)
    default_tier: CreditTier
    restoration: tuple[RestorationRule, ...] = ()  # applied by the daily sweep (workflow/service/credit_events.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiers", MappingProxyType(dict(self.tiers)))
        foreign = ", ".join(sorted(set(self.tiers) - self.regime.tiers))
        if foreign:
            raise PolicyError(f"tiers {foreign} do not exist under {self.regime}", field="credit.tiers")
        if self.default_tier not in self.tiers:
            raise PolicyError(f"{self.default_tier} is not one of the profile's tiers", field="credit.default_tier")
        for rule in self.restoration:
            if not {rule.from_tier, rule.to_tier} <= set(self.tiers) or rule.after_months < 1:
                bad = f"restoration {rule.from_tier} -> {rule.to_tier}: both tiers the profile's, months above 0"
                raise PolicyError(bad, field="credit.restoration")

    def terms_for(self, tier: CreditTier) -> CreditTerms:
        """The tier's terms; a tier of another regime is the caller's mistake, not a policy gap."""
        if tier not in self.tiers:
            known = ", ".join(sorted(self.tiers))
            raise InvalidInput(
                f"{tier} is not a tier under {self.regime} (use {known})", self.regime.rule_id, "credit_tier"
            )
        return self.tiers[tier]


@dataclass(frozen=True)
class ScopeRule:
    """R5 switches (ruleset ≥ GACC_2025): what leaves the special-goods regime besides the R4 list."""

    regulated_items_excluded: bool
    environmental_agents_excluded: bool
    non_pathogenic_medical_microbes_excluded: bool


@dataclass(frozen=True)
class StatutoryLimits:
    """R17, R19, R20, R23: Administrative Licensing Law time limits, in working days."""

    correction_notice_working_days: int
    decision_working_days: int
    extension_working_days: int
    delivery_working_days: int

    def clock_limits(self) -> ClockLimits:
        """The same limits in the shape the statutory clock counts with."""
        return ClockLimits(
            correction_days=self.correction_notice_working_days,
            decision_days=self.decision_working_days,
            extension_days=self.extension_working_days,
            delivery_days=self.delivery_working_days,
        )


@dataclass(frozen=True)
class Policy:
    """One versioned profile; `content_hash` identifies its exact content in every audit event."""

    id: str
    name: str
    content_hash: str
    grades: frozenset[RiskGrade]
    validity_months: Mapping[RiskGrade, int] = field(hash=False)
    write_off_mode: Mapping[RiskGrade, WriteOffMode] = field(hash=False)
    paperless: PaperlessRule
    risk_assessment: RiskAssessmentRule
    follow_up: FollowUpRule
    inspection: InspectionRule
    credit: CreditRule
    scope: ScopeRule
    limits: StatutoryLimits
    declaration: DeclarationRule
    biosafety: BiosafetyRule  # R9(b), R14, R62: the lowest lab level per pathogen class and category
    amendments: AmendmentRule = AmendmentRule()  # R43: what a certificate amendment may change

    def __post_init__(self) -> None:
        object.__setattr__(self, "validity_months", MappingProxyType(dict(self.validity_months)))
        object.__setattr__(self, "write_off_mode", MappingProxyType(dict(self.write_off_mode)))
        self._check_grade_tables()
        self._check_grade_subsets()
        self._check_assessment()

    def require_grade(self, grade: RiskGrade) -> RiskGrade:
        """The grade itself, or InvalidInput when this profile has no such grade (gacc-2026 has no D: R75)."""
        if grade not in self.grades:
            raise InvalidInput(f"grade {grade} is not a grade of policy {self.id}", "R27", "grade")
        return grade

    def _check_grade_tables(self) -> None:
        tables: dict[str, Mapping[RiskGrade, object]] = {
            "validity_months": self.validity_months,
            "write_off_mode": self.write_off_mode,
            "inspection.baseline": self.inspection.baseline,
        }
        for key, table in tables.items():
            if set(table) != self.grades:
                raise PolicyError(f"needs exactly the grades {_names(self.grades)}, has {_names(table)}", field=key)

    def _check_grade_subsets(self) -> None:
        subsets = {
            "paperless.grades": self.paperless.grades,
            "risk_assessment.required_for": self.risk_assessment.required_for,
            "follow_up.grades": self.follow_up.grades,
            "inspection.full_check_grades": self.inspection.full_check_grades,
        }
        for key, grades in subsets.items():
            if not grades <= self.grades:
                raise PolicyError(f"grades {_names(grades - self.grades)} are not enabled", field=key)

    def _check_assessment(self) -> None:
        rule = self.risk_assessment
        if rule.quorum > rule.panel_size:
            raise PolicyError(
                f"quorum {rule.quorum} exceeds the panel of {rule.panel_size}", field="risk_assessment.quorum"
            )
        # A lead time only means something when the file travels to headquarters; elsewhere it would be ignored.
        if rule.assessor_level is AssessorLevel.DIRECT_CUSTOMS and rule.hq_lead_time_working_days:
            raise PolicyError(
                "must be 0 when the direct customs assesses", field="risk_assessment.hq_lead_time_working_days"
            )


def _names(grades: Iterable[RiskGrade]) -> str:
    return "{" + ", ".join(sorted(grades)) + "}"


@dataclass(frozen=True)
class Adoption:
    """A district applies `policy` from `effective_from` until its next adoption."""

    policy: Policy
    effective_from: date


@dataclass(frozen=True)
class District:
    """A customs district and the profiles it adopted; `approving_customs` is the direct customs that approves (R7).

    `time_zone` (an IANA name) fixes the district's local date, the one every rule reads, and the local time people
    see; instants themselves are stored in UTC (config/local_time.py).
    """

    code: str
    name_zh: str
    name_en: str
    is_direct_customs: bool
    approving_customs: str
    adoptions: tuple[Adoption, ...]
    time_zone: str = DEFAULT_TIME_ZONE

    def __post_init__(self) -> None:
        dates = [adoption.effective_from for adoption in self.adoptions]
        if not dates or dates != sorted(set(dates)):
            raise PolicyError(
                "needs at least one adoption, in strictly increasing date order", field=self._key("adoptions")
            )
        if self.is_direct_customs and self.approving_customs != self.code:
            raise PolicyError("a direct customs approves its own applications", field=self._key("approving_customs"))

    def policy_on(self, on_date: date) -> Policy:
        """The profile in force on `on_date`: the latest adoption that is not after it."""
        in_force = [adoption for adoption in self.adoptions if adoption.effective_from <= on_date]
        if not in_force:
            first = self.adoptions[0].effective_from
            raise PolicyError(f"{self.code} adopted no policy before {first}; {on_date} is not covered", field="date")
        return in_force[-1].policy

    def _key(self, name: str) -> str:
        return f"districts.{self.code}.{name}"


@dataclass(frozen=True)
class Districts:
    """Every district by code; an approving customs must itself be a listed direct customs."""

    by_code: Mapping[str, District] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", MappingProxyType(dict(self.by_code)))
        for district in self.by_code.values():
            approver = self.by_code.get(district.approving_customs)
            if approver is None or not approver.is_direct_customs:
                raise PolicyError(
                    f"{district.approving_customs!r} is not a listed direct customs",
                    field=f"districts.{district.code}.approving_customs",
                )

    def get(self, code: str) -> District:
        """The district, or NotFound naming the known codes."""
        if code not in self.by_code:
            raise NotFound(f"unknown district {code!r} (known: {', '.join(sorted(self.by_code))})", field="district")
        return self.by_code[code]

    def policy_for(self, district_code: str, on_date: date) -> Policy:
        """The profile `district_code` applies on `on_date` (an application records it with its hash)."""
        return self.get(district_code).policy_on(on_date)
