"""The applicant's pre-check: goods facts in, what the rules would decide out, with rule ids and reasons.

One function pair serves the CLI (`specgoods precheck FILE.json`), the web form and the API: parse_precheck_input
turns raw JSON into a validated PrecheckInput (InvalidInput names the dotted field path), run_precheck applies a
Policy and returns JSON-ready output. The input format is documented in docs/precheck.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from workflow.domain import inputs, rules
from workflow.domain.errors import InvalidInput
from workflow.domain.goods import (
    Direction,
    Exclusion,
    GoodsCategory,
    GoodsLine,
    ProductIdentity,
    ProteinPurity,
    RegulatedAs,
    RiskGrade,
)
from workflow.domain.policy import CreditTier, Policy
from workflow.domain.rules import Decision
from workflow.service.input_types import Detail, District, ExtraKey, ExtraValue, Name, OptionalName, Quantity, Unit
from workflow.service.lab_checks import NO_LABS, LabsKnown, capability

T = TypeVar("T")
PathogenClass = Annotated[StrictInt, Field(ge=1, le=4)]


class _InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriorApproval(_InputModel):
    """The product identity of a certificate the applicant already holds (R60)."""

    category: GoodsCategory | None = None
    name_zh: Name
    specification: Detail = ""
    manufacturer: Detail = ""
    origin_country: Detail = ""
    intended_use: Detail = ""
    user_lab: Detail = ""

    def to_identity(self) -> ProductIdentity:
        return ProductIdentity(**self.model_dump())


class ApplicantFacts(_InputModel):
    """Who applies: natural person or entity (R10, R15), credit tier (E1), and first-time status (R60)."""

    is_natural_person: StrictBool = False
    credit_tier: CreditTier | None = None
    first_time: StrictBool | None = None
    prior_approvals: tuple[PriorApproval, ...] | None = None

    @field_validator("prior_approvals")
    @classmethod
    def _not_with_first_time(
        cls, prior: tuple[PriorApproval, ...] | None, info: ValidationInfo
    ) -> tuple[PriorApproval, ...] | None:
        if prior is not None and info.data.get("first_time") is not None:
            raise PydanticCustomError("exclusive", "give either first_time or prior_approvals, not both")
        return prior


class LineFacts(_InputModel):
    """One goods line's facts; the names and meanings are GoodsLine's (workflow/domain/goods.py)."""

    name_zh: Name
    name_en: OptionalName = ""
    category: GoodsCategory | None = None
    quantity: Quantity
    unit: Unit
    specification: Detail = ""
    manufacturer: Detail = ""
    origin_country: Detail = ""
    intended_use: Detail = ""
    user_lab: Detail = ""
    pathogen_class: PathogenClass | None = None
    may_contain_unknown_agent: StrictBool = False
    is_parasite: StrictBool = False
    is_environmental_agent: StrictBool = False
    nucleic_acid_of_pathogen_class: PathogenClass | None = None
    is_pathogen_toxin: StrictBool = False
    protein_purity: ProteinPurity = ProteinPurity.NOT_A_PROTEIN
    is_commercial_cell_line: StrictBool = False
    involves_hgr: StrictBool = False
    regulated_as: RegulatedAs = RegulatedAs.NONE
    has_domestic_approval: StrictBool = False
    has_foreign_approval: StrictBool = False
    exclusion: Exclusion | None = None
    is_self_use_one_course: StrictBool = False
    bsl_level: Annotated[StrictInt, Field(ge=1, le=4)] | None = None
    lab_id: Annotated[StrictInt, Field(ge=1, le=inputs.INT_MAX)] | None = None
    extra: Annotated[
        dict[ExtraKey, ExtraValue],
        Field(max_length=50),
    ] = Field(default_factory=dict)

    def to_goods_line(self) -> GoodsLine:
        return GoodsLine(**self.model_dump())


class PrecheckInput(_InputModel):
    """A pre-check request: direction, optional district and date (to pick the policy), applicant and lines."""

    direction: Direction
    district: District | None = None
    date: dt.date | None = None
    applicant: ApplicantFacts
    # A list, not a tuple: pydantic re-reports a tuple's length when one of its items fails.
    lines: list[LineFacts] = Field(min_length=1, max_length=inputs.LINES)

    @field_validator("date", mode="before")
    @classmethod
    def _date_is_iso_text(cls, value: object) -> object:
        # pydantic would read a bare number as a Unix timestamp; a date must be written YYYY-MM-DD.
        if not isinstance(value, str | dt.date | None):
            raise PydanticCustomError("date_type", "Input should be a date written YYYY-MM-DD")
        return value

    def goods_lines(self) -> tuple[GoodsLine, ...]:
        return tuple(line.to_goods_line() for line in self.lines)


def parse_precheck_input(raw: Mapping[str, Any]) -> PrecheckInput:
    """Validate raw JSON; InvalidInput carries the first problem's dotted path (e.g. `lines.0.quantity`)."""
    return _validated(PrecheckInput.model_validate, raw)


_LINES = TypeAdapter(tuple[LineFacts, ...])


def parse_goods_lines(raw: object, prefix: str = "lines") -> tuple[GoodsLine, ...]:
    """The goods lines of an application, validated exactly as the pre-check validates them."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{prefix}: give at least one goods line", field=prefix)
    facts = _validated(_LINES.validate_python, raw, prefix)
    return tuple(line.to_goods_line() for line in facts)


def _validated(validate: Callable[[Any], T], raw: object, prefix: str = "") -> T:
    try:
        return validate(raw)
    except ValidationError as exc:
        problems = [
            (".".join(str(part) for part in (prefix, *error["loc"]) if part != ""), error["msg"])
            for error in exc.errors()
        ]
        field, reason = problems[0]
        others = "".join(f"; also {key}: {why}" for key, why in problems[1:])
        raise InvalidInput(f"{reason}{others}", field=field) from exc


@dataclass(frozen=True)
class _Context:
    """What every line shares: the request, the policy, the credit tier and the applicant's prior products."""

    request: PrecheckInput
    policy: Policy
    credit_tier: CreditTier
    prior: frozenset[ProductIdentity]
    holds_grant: bool  # the system knows of a grant to the applicant, maybe of none of these products
    labs: LabsKnown = NO_LABS

    @property
    def direction(self) -> Direction:
        return self.request.direction

    def first_time(self, line: GoodsLine) -> Decision[bool]:
        stated = self.request.applicant.first_time
        if stated is None:
            return rules.is_first_time(line.identity, self.prior)
        return Decision(stated, ("R60",), f"the applicant states it {'is' if stated else 'is not'} first-time (R60)")

    @property
    def entity_first_time(self) -> bool:
        """R15 asks about the entity's first application: stated, or no prior approval at all."""
        stated = self.request.applicant.first_time
        return not (self.prior or self.holds_grant) if stated is None else stated


def run_precheck(
    inp: PrecheckInput,
    policy: Policy,
    prior_identities: Collection[ProductIdentity] = (),
    holds_grant: bool = False,
    labs: LabsKnown = NO_LABS,
) -> dict[str, Any]:
    """Apply `policy` to the request: per line and overall, with rule ids and reasons; JSON-ready output.

    `prior_identities` adds the products of certificates the system knows the applicant holds (R60): those among the
    request's goods are enough. `holds_grant` says the system knows of any grant to it at all (R15).
    """
    context = replace(_context(inp, policy, prior_identities, holds_grant), labs=labs)
    lines = inp.goods_lines()
    scopes = [rules.scope(line, inp.direction, policy) for line in lines]
    in_scope = [line for line, decision in zip(lines, scopes, strict=True) if decision.result]
    return {
        "policy": {"id": policy.id, "name": policy.name, "hash": policy.content_hash},
        "direction": inp.direction.value,
        "district": inp.district,
        "date": inp.date.isoformat() if inp.date else None,
        "lines": [
            _line_report(number, line, decision, context)
            for number, (line, decision) in enumerate(zip(lines, scopes, strict=True), 1)
        ],
        "overall": _overall_report(scopes, in_scope, context),
    }


def _context(
    inp: PrecheckInput, policy: Policy, prior_identities: Collection[ProductIdentity], holds_grant: bool
) -> _Context:
    tier = inp.applicant.credit_tier or policy.credit.default_tier
    if tier not in policy.credit.tiers:
        known = ", ".join(sorted(policy.credit.tiers))
        raise InvalidInput(
            f"{tier} is not a credit tier of policy {policy.id} (use {known})", field="applicant.credit_tier"
        )
    stated = {approval.to_identity() for approval in inp.applicant.prior_approvals or ()}
    return _Context(inp, policy, tier, frozenset(stated | set(prior_identities)), holds_grant)


def _line_report(number: int, line: GoodsLine, scope: Decision[bool], context: _Context) -> dict[str, Any]:
    report: dict[str, Any] = {"line_no": number, "name_zh": line.name_zh, "name_en": line.name_en}
    report["in_scope"] = explain(scope)
    if not scope.result:
        return report | dict.fromkeys(_GRADED_KEYS)
    grade = rules.grade_line(line, context.direction, context.policy)
    return report | _graded(grade, context.first_time(line), [line], context)


_GRADED_KEYS = (
    "grade", "validity_months", "write_off_mode", "first_time", "paperless", "follow_up", "risk_assessment",
    "required_documents",
)  # fmt: skip


def _graded(
    grade: Decision[RiskGrade], first_time: Decision[bool], lines: Sequence[GoodsLine], context: _Context
) -> dict[str, Any]:
    """The decisions that follow from a grade, for one line or for the whole application."""
    policy, direction, result = context.policy, context.direction, grade.result
    paperless = rules.paperless(result, direction, first_time.result, context.credit_tier, policy)
    return {
        "grade": explain(grade),
        "validity_months": explain(rules.validity_months(result, policy)),
        "write_off_mode": explain(rules.write_off_mode(result, policy)),
        "first_time": explain(first_time),
        "paperless": explain(paperless),
        "follow_up": explain(rules.follow_up_required(result, direction, policy)),
        "risk_assessment": explain(rules.risk_assessment_route(result, policy)),
        "required_documents": explain(_documents(lines, context)),
    }


def _documents(lines: Sequence[GoodsLine], context: _Context) -> Decision[tuple[str, ...] | None]:
    natural_person = context.request.applicant.is_natural_person
    allowed = rules.applicant_may_apply(lines, natural_person)
    if not allowed.result:
        # R10 bars the applicant; saying which documents to attach would mislead.
        return Decision(None, allowed.rule_ids, allowed.reason)
    documents = rules.required_documents(lines, context.direction, context.entity_first_time, natural_person)
    return Decision(documents.result, documents.rule_ids, documents.reason)


def _overall_report(
    scopes: Sequence[Decision[bool]], in_scope: Sequence[GoodsLine], context: _Context
) -> dict[str, Any]:
    applicant = rules.applicant_may_apply(in_scope, context.request.applicant.is_natural_person)
    report: dict[str, Any] = {"in_scope": explain(_overall_scope(scopes)), "applicant_may_apply": explain(applicant)}
    if not in_scope:
        return report | dict.fromkeys((*_GRADED_KEYS, "inspection_rate", "biosafety"))
    grade = rules.grade_application(in_scope, context.direction, context.policy)
    rate = rules.inspection_rate(grade.result, context.credit_tier, context.policy)
    graded = _graded(grade, _overall_first_time(in_scope, context), in_scope, context)
    # R9(b)/R14/R62 over every line as numbered in the request, so the reason names the line the applicant wrote.
    labs = capability(context.request.goods_lines(), context.labs, context.policy.biosafety)
    return report | graded | {"inspection_rate": explain(rate), "biosafety": explain(labs)}


def _overall_scope(scopes: Sequence[Decision[bool]]) -> Decision[bool]:
    outside = [number for number, decision in enumerate(scopes, 1) if not decision.result]
    if len(outside) == len(scopes):
        return Decision(False, ("R18",), "no line is special goods: customs would not accept the application (R18)")
    if outside:
        reason = f"line(s) {outside} need no approval: remove them and apply for the rest (R1, R18)"
        return Decision(True, ("R1", "R18"), reason)
    return Decision(True, ("R1",), "every line is special goods: an approval is needed (R1)")


def _overall_first_time(lines: Sequence[GoodsLine], context: _Context) -> Decision[bool]:
    """An application is first-time when any of its products is (R60 applied per product)."""
    decisions = [context.first_time(line) for line in lines]
    return next((decision for decision in decisions if decision.result), decisions[0])


def explain(decision: Decision[Any]) -> dict[str, Any]:
    """A decision as JSON: its result, the rules behind it and the one-line reason."""
    return {"result": _jsonable(decision.result), "rule_ids": list(decision.rule_ids), "reason": decision.reason}


def _jsonable(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | dt.date):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, rules.AssessmentRoute):
        return {name: _jsonable(item) for name, item in vars(value).items()}
    return value
