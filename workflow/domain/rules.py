"""The reform's rules as pure functions: facts and a Policy in, an explainable Decision out.

Each Decision names the DOMAIN.md rule ids that decided it and gives one English line of reason, so an officer,
an applicant and an auditor read the same explanation. Dates come in as arguments; nothing here reads a clock.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Generic, TypeVar

from workflow.domain.errors import GuardFailed, InvalidInput, PolicyError
from workflow.domain.goods import (
    Direction,
    Exclusion,
    GoodsCategory,
    GoodsLine,
    ProductIdentity,
    ProteinPurity,
    RegulatedAs,
    RiskGrade,
    WriteOffMode,
)
from workflow.domain.policy import AssessorLevel, CreditTier, Policy

T = TypeVar("T")


@dataclass(frozen=True)
class Decision(Generic[T]):
    """A rule's answer: the result, the rule ids that decided it, one line of reason, and the facts it used."""

    result: T
    rule_ids: tuple[str, ...]
    reason: str
    inputs: Mapping[str, object] = field(default_factory=dict, hash=False)


def _decide(result: T, rule_ids: tuple[str, ...], reason: str, **inputs: object) -> Decision[T]:
    return Decision(result, rule_ids, reason, MappingProxyType(inputs))


# --- Scope: R1–R5, R51 -------------------------------------------------------------------------------------------

_EXCLUSION_LABELS: Mapping[Exclusion, str] = MappingProxyType(
    {
        Exclusion.NON_PATHOGENIC_MEDICAL_MICROBE: "a non-pathogenic medical microbe not engineered from a pathogen",
        Exclusion.NON_RECOMBINANT_INSULIN: "non-recombinant insulin",
        Exclusion.SINGLE_NUCLEOTIDE_OR_AMINO_ACID: "a single nucleotide or amino acid",
        Exclusion.POLYSACCHARIDE: "a polysaccharide",
        Exclusion.HEPARIN: "heparin",
        Exclusion.STREPTOMYCIN_OR_PENICILLIN: "streptomycin or penicillin",
        Exclusion.NON_PATHOGEN_NON_HUMAN_ANTIGEN: "an antigen not of pathogen or human origin",
        Exclusion.HUMAN_REMAINS_NOT_FOR_RESEARCH: "human ashes, remains or hair not for medical research",
    }
)
_SELF_USE_CATEGORIES = frozenset({GoodsCategory.BIOLOGICAL_PRODUCT, GoodsCategory.BLOOD_PRODUCT})


def scope(line: GoodsLine, direction: Direction, policy: Policy) -> Decision[bool]:
    """R1–R5, R51: does the line need an approval? False means customs would not accept it (A5)."""
    for check in (_r4_excluded, _r51_self_use, _r5_excluded):
        decision = check(line, direction, policy)
        if decision is not None:
            return decision
    return _r1_category(line)


def _r4_excluded(line: GoodsLine, direction: Direction, policy: Policy) -> Decision[bool] | None:
    if line.exclusion is None:
        return None
    label = _EXCLUSION_LABELS[line.exclusion]
    return _decide(False, ("R4",), f"{label} needs no approval (R4)", exclusion=line.exclusion)


def _r51_self_use(line: GoodsLine, direction: Direction, policy: Policy) -> Decision[bool] | None:
    if not (line.is_self_use_one_course and line.category in _SELF_USE_CATEGORIES):
        return None
    reason = "carried for self-use within one treatment course with a hospital certificate: exempt (R51)"
    return _decide(False, ("R51",), reason, category=line.category)


def _r5_excluded(line: GoodsLine, direction: Direction, policy: Policy) -> Decision[bool] | None:
    switches = policy.scope
    if switches.regulated_items_excluded and _has_recognised_approval(line, direction):
        reason = f"managed as a {line.regulated_as} with an approval valid for {direction}: not special goods (R5)"
        return _decide(False, ("R5",), reason, regulated_as=line.regulated_as, policy=policy.id)
    if switches.environmental_agents_excluded and line.is_environmental_agent:
        return _decide(False, ("R5",), f"environmental microbial agents left the regime under {policy.id} (R5)")
    if switches.non_pathogenic_medical_microbes_excluded and _is_non_pathogenic_microbe(line):
        return _decide(False, ("R5",), f"non-pathogenic medical microbes left the regime under {policy.id} (R5)")
    return None


def _has_recognised_approval(line: GoodsLine, direction: Direction) -> bool:
    """R5: a Chinese approval for import; a Chinese or foreign one for export."""
    if line.regulated_as is RegulatedAs.NONE:
        return False
    return line.has_domestic_approval or (direction is Direction.EXIT and line.has_foreign_approval)


def _is_non_pathogenic_microbe(line: GoodsLine) -> bool:
    pathogen_derived = line.nucleic_acid_of_pathogen_class is not None or line.is_pathogen_toxin
    return line.category is GoodsCategory.MICROORGANISM and not (
        line.contains_pathogen or line.is_environmental_agent or pathogen_derived
    )


def _r1_category(line: GoodsLine) -> Decision[bool]:
    if line.category is None and not line.contains_pathogen:
        reason = "not a microorganism, human tissue, biological product or blood: not special goods (R1)"
        return _decide(False, ("R1",), reason, category=None)
    if line.category is None:
        return _decide(True, ("R1", "R2"), "contains or may contain a pathogen, so it is a microorganism (R1, R2)")
    definition = "R2" if line.category is GoodsCategory.MICROORGANISM else "R3"
    reason = f"{line.category.replace('_', ' ')} is special goods: an approval is needed (R1, {definition})"
    return _decide(True, ("R1", definition), reason, category=line.category)


# --- Grading: R27–R33 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Criterion:
    grade: RiskGrade
    rule_id: str
    label: str
    applies: Callable[[GoodsLine, Direction], bool]


# Ordered from the highest grade down, so the first criterion met decides (R33 within a line). D sits before C on
# purpose: a drug-regulator approval (R31) is the more specific low-risk criterion, so approved albumin is D even
# though it is also a purified protein (R30).
_CRITERIA: tuple[_Criterion, ...] = (
    _Criterion(RiskGrade.A, "R28", "contains a class 1 or 2 (highly pathogenic) microorganism",
               lambda line, _: line.is_highly_pathogenic),
    _Criterion(RiskGrade.A, "R28", "human tissue or blood entering China",
               lambda line, direction: direction is Direction.ENTRY and _is_human_tissue_or_blood(line)),
    _Criterion(RiskGrade.A, "R28", "leaves China and involves human genetic resources",
               lambda line, direction: direction is Direction.EXIT and line.involves_hgr),
    _Criterion(RiskGrade.A, "R28", "an environmental microbial agent",
               lambda line, _: line.is_environmental_agent),
    _Criterion(RiskGrade.B, "R29", "contains a class 3 microorganism",
               lambda line, _: line.pathogen_class == 3),
    _Criterion(RiskGrade.B, "R29", "may contain an unknown or infectious agent",
               lambda line, _: line.may_contain_unknown_agent),
    _Criterion(RiskGrade.B, "R29", "contains parasites",
               lambda line, _: line.is_parasite),
    _Criterion(RiskGrade.B, "R29", "a nucleic acid of a class 1 or 2 pathogen",
               lambda line, _: line.nucleic_acid_of_pathogen_class in (1, 2)),
    _Criterion(RiskGrade.B, "R29", "a toxin of a pathogen that harms humans",
               lambda line, _: line.is_pathogen_toxin),
    _Criterion(RiskGrade.B, "R29", "a protein that is not lysed or not fully purified",
               lambda line, _: line.protein_purity is ProteinPurity.CRUDE),
    _Criterion(RiskGrade.D, "R31", "a biological product with a drug-regulator approval",
               lambda line, _: line.regulated_as is not RegulatedAs.NONE and line.has_domestic_approval),
    _Criterion(RiskGrade.C, "R30", "contains a class 4 microorganism",
               lambda line, _: line.pathogen_class == 4),
    _Criterion(RiskGrade.C, "R30", "a commercial cell line from a known culture collection",
               lambda line, _: line.is_commercial_cell_line),
    _Criterion(RiskGrade.C, "R30", "a fully lysed or purified protein",
               lambda line, _: line.protein_purity is ProteinPurity.PURIFIED),
    _Criterion(RiskGrade.C, "R30", "a medical microbe or other item that does not cause human disease",
               lambda line, _: True),
)  # fmt: skip


def _is_human_tissue_or_blood(line: GoodsLine) -> bool:
    # A catalogued commercial cell line is the more specific R30 criterion.
    human = line.category in (GoodsCategory.HUMAN_TISSUE, GoodsCategory.BLOOD)
    return human and not line.is_commercial_cell_line


def grade_line(line: GoodsLine, direction: Direction, policy: Policy) -> Decision[RiskGrade]:
    """R27–R31: the highest grade whose criterion the line meets, within the policy's grade set."""
    in_scope = scope(line, direction, policy)
    if not in_scope.result:
        raise GuardFailed(f"nothing to grade: {in_scope.reason}", in_scope.rule_ids[0], "category")
    met = [criterion for criterion in _CRITERIA if criterion.applies(line, direction)]
    decisive = met[0]  # the last criterion always applies
    grade = _enabled_grade(decisive.grade, policy)
    reason = f"grade {grade}: {decisive.label} ({decisive.rule_id})"
    if grade is not decisive.grade:
        reason += f"; {policy.id} has no grade {decisive.grade}, so the next higher grade applies"
    criteria = tuple(criterion.label for criterion in met)
    facts = {"direction": direction, "criterion": decisive.label, "criteria_met": criteria}
    return _decide(grade, ("R27", decisive.rule_id), reason, **facts)


def _enabled_grade(grade: RiskGrade, policy: Policy) -> RiskGrade:
    """The grade if enabled, else the least severe enabled grade above it (never grade more leniently)."""
    higher = [candidate for candidate in policy.grades if candidate.severity >= grade.severity]
    if not higher:
        raise PolicyError(f"{policy.id} has no grade at or above {grade}", "R27", "grades")
    return min(higher, key=lambda candidate: candidate.severity)


def grade_application(lines: Sequence[GoodsLine], direction: Direction, policy: Policy) -> Decision[RiskGrade]:
    """R33: the application takes the highest grade among its lines."""
    if not lines:
        raise InvalidInput("an application needs at least one goods line", "R12", "lines")
    graded = [grade_line(line, direction, policy) for line in lines]
    top = max(range(len(graded)), key=lambda index: graded[index].result.severity)
    decisive = graded[top]
    rule_ids = ("R27", "R33", *decisive.rule_ids[1:])
    line_grades = tuple(decision.result for decision in graded)
    if len(graded) == 1:
        return _decide(decisive.result, rule_ids, decisive.reason, line_grades=line_grades)
    cited = ", ".join((*rule_ids[2:], "R33"))
    criterion = decisive.inputs["criterion"]
    reason = f"grade {decisive.result}, the highest of {len(lines)} lines (line {top + 1}: {criterion}) ({cited})"
    return _decide(decisive.result, rule_ids, reason, line_grades=line_grades)


# --- Validity and write-off: R36–R41 -----------------------------------------------------------------------------


def validity_months(grade: RiskGrade, policy: Policy) -> Decision[int]:
    """R36 and §8 Q1: the validity period follows the grade."""
    months = policy.validity_months[policy.require_grade(grade)]
    return _decide(months, ("R36",), f"grade {grade} certificates are valid {months} months (R36)", grade=grade)


def validity_until(issued_on: date, grade: RiskGrade, policy: Policy) -> Decision[date]:
    """R36–R37: counting starts the day after issue and ends on the matching day, or the month-end if none."""
    months = validity_months(grade, policy).result
    until = add_months(issued_on, months)
    reason = f"grade {grade}, {months} months from the day after {issued_on}: valid until {until} (R36, R37)"
    return _decide(until, ("R36", "R37"), reason, issued_on=issued_on, grade=grade, months=months)


def add_months(day: date, months: int) -> date:
    """Civil Code Art 202: the matching day of the last month, or that month's last day when it has none."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def write_off_mode(grade: RiskGrade, policy: Policy) -> Decision[WriteOffMode]:
    """R40–R41: single-use, or written off in batches within validity."""
    mode = policy.write_off_mode[policy.require_grade(grade)]
    if mode is WriteOffMode.SINGLE:
        reason = f"grade {grade} certificates are single-use under {policy.id}: the first write-off exhausts it (R40)"
        return _decide(mode, ("R40",), reason, grade=grade)
    reason = f"grade {grade} certificates may be written off in batches within validity under {policy.id} (R41)"
    return _decide(mode, ("R41", "R66"), reason, grade=grade)


# --- First-time, paperless and follow-up: R53–R54, R58–R60 --------------------------------------------------------


def is_first_time(identity: ProductIdentity, prior_identities: Collection[ProductIdentity]) -> Decision[bool]:
    """R60 and §8 Q6: first-time unless the applicant holds a granted certificate, in any state, for this product.

    The caller passes the product identities of the same applicant's granted certificates only.
    """
    if identity in prior_identities:
        reason = "the applicant already holds a certificate for the same product: not first-time (R60)"
        return _decide(False, ("R60",), reason, product=identity.name_zh)
    reason = "the applicant holds no certificate for the same product: first-time (R60)"
    return _decide(True, ("R60",), reason, product=identity.name_zh)


def paperless(
    grade: RiskGrade, direction: Direction, first_time: bool, credit_tier: CreditTier, policy: Policy
) -> Decision[bool]:
    """R58–R60, §8 Q4, §(e): paperless when the grade, direction, first-time status and credit all allow it."""
    policy.require_grade(grade)
    rule = policy.paperless
    terms = policy.credit.terms_for(credit_tier)
    facts = {"grade": grade, "direction": direction, "first_time": first_time, "credit_tier": credit_tier}
    if grade not in rule.grades:
        return _decide(False, ("R58",), f"grade {grade} is never paperless under {policy.id} (R58)", **facts)
    if direction not in rule.directions:
        return _decide(False, ("R58",), f"{direction} goods are not paperless under {policy.id} (R58)", **facts)
    if first_time and rule.first_time_excluded:
        return _decide(False, ("R58", "R60"), f"a first-time grade {grade} application is on paper (R58, R60)", **facts)
    if not terms.paperless_allowed:
        reason = f"{credit_tier} enterprises lose the paperless path ({policy.credit.regime.rule_id}, R65)"
        return _decide(False, ("R65", policy.credit.regime.rule_id), reason, **facts)
    reason = f"grade {grade} {direction}, {'first-time' if first_time else 'repeat'}: paperless (R58, R59)"
    return _decide(True, ("R58", "R59"), reason, **facts)


def follow_up_required(grade: RiskGrade, direction: Direction, policy: Policy) -> Decision[bool]:
    """R53–R54: follow-up supervision, with the user's report due within the policy's window."""
    policy.require_grade(grade)
    rule = policy.follow_up
    if grade not in rule.grades:
        return _decide(False, ("R53",), f"grade {grade} goods have no follow-up supervision (R53)", grade=grade)
    if direction not in rule.directions:
        reason = f"{direction} goods have no follow-up supervision under {policy.id} (R53)"
        return _decide(False, ("R53",), reason, grade=grade, direction=direction)
    reason = f"grade {grade} goods are followed up: the user reports within {rule.report_window_days} days (R53, R54)"
    return _decide(True, ("R53", "R54"), reason, grade=grade, direction=direction)


# --- Applicant and documents: R10, R12–R16 -----------------------------------------------------------------------


def applicant_may_apply(lines: Sequence[GoodsLine], applicant_is_natural_person: bool) -> Decision[bool]:
    """R10: a natural person may not apply for goods that contain or may contain pathogens."""
    pathogenic = [index + 1 for index, line in enumerate(lines) if line.contains_pathogen]
    if applicant_is_natural_person and pathogenic:
        reason = f"line(s) {pathogenic} contain or may contain pathogens: a natural person may not apply (R10)"
        return _decide(False, ("R10",), reason, natural_person=True)
    kind = "a natural person" if applicant_is_natural_person else "an entity"
    return _decide(
        True, ("R10",), f"{kind} may apply for these goods (R10)", natural_person=applicant_is_natural_person
    )


@dataclass(frozen=True)
class _DocumentRule:
    doc_type: str
    rule_id: str
    applies: Callable[[GoodsLine, Direction], bool]


_PRODUCT_BLOOD = (GoodsCategory.BIOLOGICAL_PRODUCT, GoodsCategory.BLOOD_PRODUCT)
_REGISTERED = (RegulatedAs.DRUG, RegulatedAs.MEDICAL_DEVICE)

# R14's conditional documents; any line that meets the condition brings the document into the application.
_LINE_DOCUMENTS: tuple[_DocumentRule, ...] = (
    _DocumentRule("pathogen_description", "R14", lambda line, _: line.contains_pathogen),
    _DocumentRule("biosafety_capability", "R14", lambda line, _: line.contains_pathogen),
    _DocumentRule("lab_qualification", "R14", lambda line, _: line.contains_pathogen),
    _DocumentRule("bsl3_accreditation", "R14",
                  lambda line, _: line.contains_pathogen and ((line.bsl_level or 0) >= 3 or line.is_highly_pathogenic)),
    _DocumentRule("provincial_health_approval", "R14", lambda line, _: line.is_highly_pathogenic),
    _DocumentRule("certificate_of_sale", "R14",
                  lambda line, direction: direction is Direction.EXIT and line.category in _PRODUCT_BLOOD
                  and line.regulated_as is not RegulatedAs.NONE),
    _DocumentRule("hgr_approval", "R14", lambda line, direction: direction is Direction.EXIT and line.involves_hgr),
    _DocumentRule("import_drug_registration", "R14",
                  lambda line, direction: direction is Direction.ENTRY and line.regulated_as in _REGISTERED),
)  # fmt: skip
_ENTITY_FIRST_DOCUMENTS = ("business_licence", "entity_basic_information", "biosafety_system_documents")


def required_documents(
    lines: Sequence[GoodsLine], direction: Direction, first_time: bool, applicant_is_natural_person: bool
) -> Decision[tuple[str, ...]]:
    """R12–R16: the document types to attach; `first_time` is the entity's first application (R15).

    Raises GuardFailed when R10 forbids the applicant from applying at all.
    """
    allowed = applicant_may_apply(lines, applicant_is_natural_person)
    if not allowed.result:
        raise GuardFailed(allowed.reason, "R10", "applicant.is_natural_person")
    by_rule: dict[str, list[str]] = {"R12": ["application_form"], "R13": ["goods_description"]}
    for rule in _LINE_DOCUMENTS:
        if any(rule.applies(line, direction) for line in lines):
            by_rule.setdefault(rule.rule_id, []).append(rule.doc_type)
    if first_time:
        by_rule["R15"] = ["id_copy"] if applicant_is_natural_person else list(_ENTITY_FIRST_DOCUMENTS)
    documents = tuple(doc for docs in by_rule.values() for doc in docs)
    reason = "; ".join(f"{rule_id}: {', '.join(docs)}" for rule_id, docs in by_rule.items())
    facts = {"direction": direction, "first_time": first_time, "natural_person": applicant_is_natural_person}
    return _decide(documents, (*by_rule, "R16"), reason, **facts)


# --- Inspection and risk assessment: E1, R32, R61, R63 -----------------------------------------------------------


def inspection_rate(grade: RiskGrade, credit_tier: CreditTier, policy: Policy) -> Decision[Decimal]:
    """E1: min(1, baseline × credit modifier), raised to the tier's floor; full-check grades are always 1."""
    policy.require_grade(grade)
    terms = policy.credit.terms_for(credit_tier)
    credit_rule = policy.credit.regime.rule_id
    facts = {"grade": grade, "credit_tier": credit_tier}
    if grade in policy.inspection.full_check_grades:
        return _decide(Decimal(1), ("E1",), f"grade {grade} goods are always physically checked (E1)", **facts)
    baseline = policy.inspection.baseline[grade]
    rate = min(Decimal(1), max(terms.floor, baseline * terms.modifier)).normalize()  # 0.5 × 1.0 reads 0.5
    reason = f"grade {grade} baseline {baseline} × {credit_tier} {terms.modifier}, floor {terms.floor}: {rate} (E1)"
    return _decide(rate, ("E1", credit_rule), reason, baseline=baseline, modifier=terms.modifier, **facts)


@dataclass(frozen=True)
class AssessmentRoute:
    """Whether a grade needs an expert risk assessment, who runs it, and how long headquarters takes."""

    required: bool
    assessor_level: AssessorLevel | None
    lead_time_working_days: int
    entity_reuse_months: int


def risk_assessment_route(grade: RiskGrade, policy: Policy) -> Decision[AssessmentRoute]:
    """R32, R61, R63: the risk-assessment route for a grade under the policy."""
    policy.require_grade(grade)
    rule = policy.risk_assessment
    if grade not in rule.required_for:
        route = AssessmentRoute(False, None, 0, 0)
        return _decide(route, ("R32",), f"grade {grade}: decided without an expert risk assessment (R32)", grade=grade)
    # Policy guarantees a zero lead time when the direct customs assesses, so one route shape serves both levels.
    route = AssessmentRoute(True, rule.assessor_level, rule.hq_lead_time_working_days, rule.entity_reuse_months)
    if rule.assessor_level is AssessorLevel.DIRECT_CUSTOMS:
        assessor = "the direct customs' own expert panel"
    else:
        assessor = f"GACC headquarters experts, about {route.lead_time_working_days} working days"
    reuse = f"; an entity-level assessment is reusable for {route.entity_reuse_months} months (R63)"
    reuse_ids = ("R63",) if route.entity_reuse_months else ()
    reason = f"grade {grade}: assessed by {assessor} (R32, R61){reuse if reuse_ids else ''}"
    return _decide(route, ("R32", "R61", *reuse_ids), reason, grade=grade)
