"""Biosafety capability (生物安全控制能力): an enterprise's laboratories and whether one matches the goods it will use.

R9(b) and R62 ask that the applicant's biosafety control capability match the goods' risk; R14 that the user lab of
pathogen-containing goods hold a qualification matching the risk, BSL-3 and above accredited by the national body.
The minimum level per pathogen class and category and the level from which accreditation is required are policy data
(`BiosafetyRule`, config/policies/*.toml); this module only compares. Pure: dates come in, nothing is read here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from workflow.domain import inputs
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import InvalidInput, PermissionDenied, PolicyError
from workflow.domain.goods import GoodsCategory, GoodsLine
from workflow.domain.permissions import Action, may

BSL_LEVELS = (1, 2, 3, 4)
RULE_IDS = ("R9", "R14", "R62")


@dataclass(frozen=True)
class BiosafetyRule:
    """The profile's table: the lowest lab level per pathogen class and per category, and when accreditation starts.

    A line's minimum is the higher of its class's and its category's entry; a line with no pathogen needs no lab.
    """

    minimum_level_by_class: Mapping[int, int] = field(hash=False)
    minimum_level_by_category: Mapping[GoodsCategory, int] = field(hash=False)
    accreditation_required_from: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "minimum_level_by_class", MappingProxyType(dict(self.minimum_level_by_class)))
        object.__setattr__(self, "minimum_level_by_category", MappingProxyType(dict(self.minimum_level_by_category)))
        if set(self.minimum_level_by_class) != {1, 2, 3, 4}:
            raise PolicyError("needs exactly the pathogen classes 1–4", field="biosafety.minimum_level_by_class")
        if set(self.minimum_level_by_category) != set(GoodsCategory):
            raise PolicyError("needs every goods category", field="biosafety.minimum_level_by_category")

    def minimum_level(self, line: GoodsLine) -> int | None:
        """The lowest BSL the user lab of `line` must have, or None when the goods contain no pathogen (R14)."""
        if not line.contains_pathogen:
            return None
        by_class = self.minimum_level_by_class.get(line.pathogen_class or 0, 1)
        by_category = self.minimum_level_by_category.get(line.category, 1) if line.category else 1
        return max(by_class, by_category)


@dataclass(frozen=True)
class LabDetails:
    """What the enterprise's admin states about a lab; the evidence document travels beside it."""

    name: str
    address: str
    bsl_level: int
    accreditation_body: str = ""
    accreditation_no: str = ""
    valid_from: date | None = None
    valid_until: date | None = None

    def __post_init__(self) -> None:
        _check_details(self)


def _check_details(details: LabDetails) -> None:
    """Cross-field checks every door shares (the field limits are the input schema's); each names its field."""
    if not details.name.strip():
        raise InvalidInput("a laboratory has a name", field="name")
    if details.bsl_level not in BSL_LEVELS:
        raise InvalidInput("the biosafety level is 1, 2, 3 or 4", field="bsl_level")
    if bool(details.accreditation_body.strip()) != bool(details.accreditation_no.strip()):
        field_name = "accreditation_no" if details.accreditation_body.strip() else "accreditation_body"
        raise InvalidInput("an accreditation names both its body and its number", field=field_name)
    if details.valid_from and details.valid_until and details.valid_until < details.valid_from:
        raise InvalidInput("the validity ends before it starts", field="valid_until")
    for name, limit in (("name", inputs.NAME), ("address", inputs.ADDRESS), ("accreditation_body", inputs.NAME),
                        ("accreditation_no", inputs.CODE)):  # fmt: skip
        inputs.clean_text(getattr(details, name), limit, name)


@dataclass(frozen=True)
class Laboratory:
    """实验室 / 设施: one of an enterprise's labs as its admin keeps it, and the district officer's verification."""

    id: int
    enterprise_id: int
    district: str
    name: str
    address: str
    bsl_level: int
    accreditation_body: str = ""
    accreditation_no: str = ""
    valid_from: date | None = None
    valid_until: date | None = None
    evidence_sha256: str = ""
    evidence_filename: str = ""
    verified_on: date | None = None
    verified_by: int | None = None
    version: int = 0

    @property
    def accredited(self) -> bool:
        return bool(self.accreditation_body and self.accreditation_no)

    def valid_on(self, on: date) -> bool:
        """Within the accreditation's (or qualification's) validity on `on`; an open end means no end stated."""
        starts = self.valid_from is None or self.valid_from <= on
        return starts and (self.valid_until is None or on <= self.valid_until)

    @property
    def verified(self) -> bool:
        return self.verified_on is not None

    def as_json(self) -> dict[str, object]:
        """The lab as the API shows it and the audit events keep it: dates as ISO text."""
        return {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in vars(self).items()
            if name != "verified_by"
        }


class LabDeficiency(StrEnum):
    """Why a lab does not match a line; each is a named deficiency of the correction notice and refuses the grant."""

    NO_LAB = "lab_not_named"  # R14: pathogen goods name no registered lab of the applicant
    FOREIGN_LAB = "lab_not_the_applicants"  # R9(b): the capability must be the applicant's own
    LEVEL_TOO_LOW = "lab_level_too_low"  # R62
    NOT_ACCREDITED = "lab_not_accredited"  # R14: BSL-3 and above
    NOT_VERIFIED = "lab_not_verified"  # R9(b): a district officer has checked the evidence
    NOT_VALID = "lab_not_valid"  # R14: the qualification is not valid on the decision's date


_RULE_OF: Mapping[LabDeficiency, str] = MappingProxyType(
    {
        LabDeficiency.NO_LAB: "R14",
        LabDeficiency.FOREIGN_LAB: "R9",
        LabDeficiency.LEVEL_TOO_LOW: "R62",
        LabDeficiency.NOT_ACCREDITED: "R14",
        LabDeficiency.NOT_VERIFIED: "R9",
        LabDeficiency.NOT_VALID: "R14",
    }
)


@dataclass(frozen=True)
class LabFinding:
    """One line's mismatch: which deficiency, under which rule, and the English sentence the notice carries."""

    line_no: int
    deficiency: LabDeficiency
    required_level: int
    lab_id: int | None
    lab_name: str = ""  # people know their labs by name; the id alone when the lab is not the applicant's

    @property
    def rule_id(self) -> str:
        return _RULE_OF[self.deficiency]

    @property
    def sentence(self) -> str:
        """The deficiency as the correction notice and the guard's refusal name it."""
        lab = f"lab #{self.lab_id}" + (f" ({self.lab_name})" if self.lab_name else "")
        return f"line {self.line_no}: {_SENTENCES[self.deficiency].format(level=self.required_level, lab=lab)} ({self.rule_id})"  # noqa: E501

    def as_json(self) -> dict[str, object]:
        return {
            "line_no": self.line_no,
            "deficiency": self.deficiency.value,
            "rule_id": self.rule_id,
            "required_level": self.required_level,
            "lab_id": self.lab_id,
            "reason": self.sentence,
        }


_SENTENCES: Mapping[LabDeficiency, str] = MappingProxyType(
    {
        LabDeficiency.NO_LAB: "the goods contain a pathogen and name no registered user lab of the applicant (BSL-{level} or above needed)",  # noqa: E501
        LabDeficiency.FOREIGN_LAB: "{lab} is not a laboratory of the applicant",
        LabDeficiency.LEVEL_TOO_LOW: "{lab} is below BSL-{level}, the level these goods need",
        LabDeficiency.NOT_ACCREDITED: "{lab} is BSL-3 or above and needs the national accreditation (body and number)",
        LabDeficiency.NOT_VERIFIED: "{lab} has not been verified by an officer of the district",
        LabDeficiency.NOT_VALID: "the qualification of {lab} is not valid on the decision's date",
    }
)


def check_line(
    line_no: int, line: GoodsLine, labs: Mapping[int, Laboratory], enterprise_id: int, rule: BiosafetyRule, on: date
) -> tuple[LabFinding, ...]:
    """R9(b) / R14 / R62 for one line: every way the named lab fails the goods on `on` (empty when it matches)."""
    level = rule.minimum_level(line)
    if level is None:
        return ()
    lab = labs.get(line.lab_id) if line.lab_id is not None else None
    if lab is None:
        deficiency = LabDeficiency.NO_LAB if line.lab_id is None else LabDeficiency.FOREIGN_LAB
        return (LabFinding(line_no, deficiency, level, line.lab_id),)
    if lab.enterprise_id != enterprise_id:
        return (LabFinding(line_no, LabDeficiency.FOREIGN_LAB, level, lab.id),)
    return tuple(LabFinding(line_no, found, level, lab.id, lab.name) for found in _lab_faults(lab, level, rule, on))


def _lab_faults(lab: Laboratory, level: int, rule: BiosafetyRule, on: date) -> list[LabDeficiency]:
    faults = []
    if lab.bsl_level < level:
        faults.append(LabDeficiency.LEVEL_TOO_LOW)
    if lab.bsl_level >= rule.accreditation_required_from and not lab.accredited:
        faults.append(LabDeficiency.NOT_ACCREDITED)
    if not lab.verified:
        faults.append(LabDeficiency.NOT_VERIFIED)
    if not lab.valid_on(on):
        faults.append(LabDeficiency.NOT_VALID)
    return faults


def check_lines(
    lines: Sequence[GoodsLine], labs: Mapping[int, Laboratory], enterprise_id: int, rule: BiosafetyRule, on: date
) -> tuple[LabFinding, ...]:
    """Every line's findings, in line order (lines numbered from 1, as the notice numbers them)."""
    return tuple(
        finding
        for number, line in enumerate(lines, start=1)
        for finding in check_line(number, line, labs, enterprise_id, rule, on)
    )


def lapsed(lab: Laboratory, rule: BiosafetyRule, on: date) -> bool:
    """The sweep's question: a lab that certificates rely on no longer holds what it held when they were granted."""
    return not lab.valid_on(on) or (lab.bsl_level >= rule.accreditation_required_from and not lab.accredited)


# -- who may do what (workflow/domain/permissions.py asks the role; these add whose lab it is) ---------------------


@dataclass(frozen=True)
class LabOwner:
    """The enterprise a lab belongs to and its district: what `permissions.in_scope` compares with the actor."""

    enterprise_id: int | None
    district: str | None


def may_maintain_labs(actor: Actor, owner: LabOwner, acting_is_admin: bool) -> bool:
    """The enterprise's own admin (read from the database), or a customs administrator of its district."""
    if not may(actor, Action.MAINTAIN_LAB, owner):
        return False
    return actor.role is not Role.APPLICANT or acting_is_admin


def may_verify_lab(actor: Actor, lab: Laboratory | LabOwner) -> bool:
    """An officer of the lab's district (R7: the district's customs checks the evidence)."""
    return may(actor, Action.VERIFY_LAB, lab)


def require_lab_maintainer(actor: Actor, owner: LabOwner, acting_is_admin: bool) -> None:
    if not may_maintain_labs(actor, owner, acting_is_admin):
        raise PermissionDenied("only the enterprise's admin or a customs administrator of its district keeps its labs")


def require_lab_verifier(actor: Actor, lab: Laboratory) -> None:
    if not may_verify_lab(actor, lab):
        raise PermissionDenied("only an officer of the lab's district verifies it", rule_id="R7")
