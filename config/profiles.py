"""Loads policy profiles and district adoptions from TOML into the pure Policy and Districts value objects.

pydantic checks each file's shape (types, ranges, unknown keys); the domain objects check cross-field invariants.
Either way a malformed file raises PolicyError naming the file, the key path and the reason.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from config.local_time import known_zone
from workflow.domain.biosafety import BiosafetyRule
from workflow.domain.errors import PolicyError
from workflow.domain.goods import Direction, GoodsCategory, RiskGrade, WriteOffMode
from workflow.domain.policy import (
    DEFAULT_TIME_ZONE,
    Adoption,
    AmendmentRule,
    AssessorLevel,
    CreditRegime,
    CreditRule,
    CreditTerms,
    CreditTier,
    DeclarationRule,
    District,
    Districts,
    FollowUpRule,
    InspectionRule,
    PanelConclusion,
    PaperlessRule,
    Policy,
    RestorationRule,
    RiskAssessmentRule,
    ScopeRule,
    StatutoryLimits,
)

POLICY_DIR = Path(__file__).resolve().parent / "policies"
DISTRICTS_FILE = Path(__file__).resolve().parent / "districts.toml"

Count = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(gt=0)]
Rate = Annotated[Decimal, Field(ge=0, le=1)]
Text = Annotated[StrictStr, Field(min_length=1)]
Code = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9-]*$")]
T = TypeVar("T")


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Paperless(_FileModel):
    grades: frozenset[RiskGrade]
    directions: frozenset[Direction]
    first_time_excluded: StrictBool


class _RiskAssessment(_FileModel):
    assessor_level: AssessorLevel
    required_for: frozenset[RiskGrade]
    panel_size: Positive
    quorum: Positive
    conclusion: PanelConclusion
    hq_lead_time_working_days: Count
    entity_reuse_months: Count
    opinion_working_days: Positive


class _FollowUp(_FileModel):
    grades: frozenset[RiskGrade]
    directions: frozenset[Direction]
    report_window_days: Positive


class _Declaration(_FileModel):
    backdating_days: Count


class _Inspection(_FileModel):
    baseline: dict[RiskGrade, Rate]
    full_check_grades: frozenset[RiskGrade]
    withdrawal_carry_days: Positive


class _CreditTerms(_FileModel):
    modifier: Annotated[Decimal, Field(ge=0)]
    floor: Rate
    paperless_allowed: StrictBool
    assessment_reuse_allowed: StrictBool


class _Restoration(_FileModel):
    from_tier: CreditTier
    to_tier: CreditTier
    after_months: Positive
    rule_id: Annotated[StrictStr, Field(pattern=r"^R[0-9]+$")]


class _Credit(_FileModel):
    regime: CreditRegime
    default_tier: CreditTier
    tiers: dict[CreditTier, _CreditTerms] = Field(min_length=1)
    restoration: list[_Restoration] = []


class _Scope(_FileModel):
    regulated_items_excluded: StrictBool
    environmental_agents_excluded: StrictBool
    non_pathogenic_medical_microbes_excluded: StrictBool


class _Limits(_FileModel):
    correction_notice_working_days: Positive
    decision_working_days: Positive
    extension_working_days: Count
    delivery_working_days: Positive


class _Biosafety(_FileModel):
    minimum_level_by_class: dict[Annotated[int, Field(ge=1, le=4)], Annotated[StrictInt, Field(ge=1, le=4)]]
    minimum_level_by_category: dict[GoodsCategory, Annotated[StrictInt, Field(ge=1, le=4)]]
    accreditation_required_from: Annotated[StrictInt, Field(ge=1, le=4)]


class _Amendments(_FileModel):
    fields: frozenset[Literal["contact_person", "phone", "agent", "ports"]]


class _PolicyFile(_FileModel):
    id: Code
    name: Text
    grades: frozenset[RiskGrade] = Field(min_length=1)
    validity_months: dict[RiskGrade, Positive]
    write_off_mode: dict[RiskGrade, WriteOffMode]
    paperless: _Paperless
    risk_assessment: _RiskAssessment
    follow_up: _FollowUp
    inspection: _Inspection
    credit: _Credit
    scope: _Scope
    limits: _Limits
    declaration: _Declaration
    biosafety: _Biosafety
    amendments: _Amendments


class _Adoption(_FileModel):
    policy: Code
    effective_from: date


class _District(_FileModel):
    name_zh: Text
    name_en: Text
    is_direct_customs: StrictBool
    approving_customs: Code
    adoptions: list[_Adoption] = Field(min_length=1)
    time_zone: Text = DEFAULT_TIME_ZONE

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        # Checked at load, so a misspelt zone (or an image without the tz database) stops the start, not a page.
        if not known_zone(name):
            raise ValueError(f"{name!r} is not an IANA time zone this system knows")
        return name


class _DistrictsFile(_FileModel):
    districts: dict[Code, _District] = Field(min_length=1)


def load_policy(path: Path | str) -> Policy:
    """Read one profile; its id must match the file name, and its hash covers the validated content only."""
    path = Path(path)
    content = _validate(path, _PolicyFile)
    if content.id != path.stem:
        raise PolicyError(f"{path}: id: {content.id!r} must match the file name {path.stem!r}", field="id")
    return _build(path, lambda: _to_policy(content, _content_hash(content)))


def load_policies(directory: Path | str | None = None) -> dict[str, Policy]:
    """Every `*.toml` profile in `directory` (default config/policies/), by id."""
    directory = POLICY_DIR if directory is None else Path(directory)
    policies = {policy.id: policy for policy in map(load_policy, sorted(directory.glob("*.toml")))}
    if not policies:
        raise PolicyError(f"{directory}: no policy profiles (*.toml) found")
    return policies


def load_districts(path: Path | str | None = None, policies: Mapping[str, Policy] | None = None) -> Districts:
    """The districts and their adoptions (default config/districts.toml), resolved against `policies`."""
    path = DISTRICTS_FILE if path is None else Path(path)
    content = _validate(path, _DistrictsFile)
    known = load_policies() if policies is None else policies
    return _build(path, lambda: _to_districts(content, known))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        # Rates stay exact: TOML floats become Decimal, never float.
        return tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the file: {exc.strerror}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: not valid UTF-8 TOML: {exc}") from exc


_Model = TypeVar("_Model", bound=BaseModel)


def _validate(path: Path, model: type[_Model]) -> _Model:
    try:
        return model.model_validate(_read_toml(path))
    except ValidationError as exc:
        problems = [(".".join(str(part) for part in error["loc"]), error["msg"]) for error in exc.errors()]
        message = "; ".join(f"{path}: {key}: {reason}" for key, reason in problems)
        raise PolicyError(message, field=problems[0][0]) from exc


def _build(path: Path, construct: Callable[[], T]) -> T:
    """Run a domain constructor, prefixing its invariant errors with the file they came from."""
    try:
        return construct()
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc.field}: {exc.message}", rule_id=exc.rule_id, field=exc.field) from exc


def _content_hash(content: _PolicyFile) -> str:
    """sha256 of canonical JSON: sorted keys, sorted sets, normalised decimals; comments and layout do not count."""
    canonical = json.dumps(content.model_dump(), sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 0.50, 0.5 and 5E-1 hash alike
    if isinstance(value, frozenset):
        return sorted(value)
    raise TypeError(f"no canonical JSON for {type(value).__name__}")


def _to_policy(content: _PolicyFile, content_hash: str) -> Policy:
    return Policy(
        id=content.id,
        name=content.name,
        content_hash=content_hash,
        grades=content.grades,
        validity_months=content.validity_months,
        write_off_mode=content.write_off_mode,
        paperless=PaperlessRule(**content.paperless.model_dump()),
        risk_assessment=RiskAssessmentRule(**content.risk_assessment.model_dump()),
        follow_up=FollowUpRule(**content.follow_up.model_dump()),
        inspection=InspectionRule(**content.inspection.model_dump()),
        credit=CreditRule(
            regime=content.credit.regime,
            tiers={tier: CreditTerms(**terms.model_dump()) for tier, terms in content.credit.tiers.items()},
            default_tier=content.credit.default_tier,
            restoration=tuple(RestorationRule(**rule.model_dump()) for rule in content.credit.restoration),
        ),
        scope=ScopeRule(**content.scope.model_dump()),
        limits=StatutoryLimits(**content.limits.model_dump()),
        declaration=DeclarationRule(**content.declaration.model_dump()),
        biosafety=BiosafetyRule(
            minimum_level_by_class=content.biosafety.minimum_level_by_class,
            minimum_level_by_category=content.biosafety.minimum_level_by_category,
            accreditation_required_from=content.biosafety.accreditation_required_from,
        ),
        amendments=AmendmentRule(frozenset(content.amendments.fields)),
    )


def _to_districts(content: _DistrictsFile, policies: Mapping[str, Policy]) -> Districts:
    return Districts({code: _to_district(code, district, policies) for code, district in content.districts.items()})


def _to_district(code: str, content: _District, policies: Mapping[str, Policy]) -> District:
    adoptions = tuple(_to_adoption(code, index, adoption, policies) for index, adoption in enumerate(content.adoptions))
    return District(
        code=code,
        name_zh=content.name_zh,
        name_en=content.name_en,
        is_direct_customs=content.is_direct_customs,
        approving_customs=content.approving_customs,
        adoptions=adoptions,
        time_zone=content.time_zone,
    )


def _to_adoption(code: str, index: int, content: _Adoption, policies: Mapping[str, Policy]) -> Adoption:
    if content.policy not in policies:
        known = ", ".join(sorted(policies))
        key = f"districts.{code}.adoptions.{index}.policy"
        raise PolicyError(f"unknown policy {content.policy!r} (known: {known})", field=key)
    return Adoption(policy=policies[content.policy], effective_from=content.effective_from)
