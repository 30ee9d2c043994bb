"""Value objects that describe special goods (特殊物品): directions, categories, grades and a goods line's facts.

Every name here is the English identifier of a Chinese term in the README's glossary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Direction(StrEnum):
    """入境 / 出境."""

    ENTRY = "entry"
    EXIT = "exit"


class GoodsCategory(StrEnum):
    """The special-goods categories of R1–R3 (微生物, 人体组织, 生物制品, 血液, 血液制品)."""

    MICROORGANISM = "microorganism"
    HUMAN_TISSUE = "human_tissue"
    BIOLOGICAL_PRODUCT = "biological_product"
    BLOOD = "blood"
    BLOOD_PRODUCT = "blood_product"


class RiskGrade(StrEnum):
    """风险等级 under SN/T 4707-2016 (R27). A and B are high risk; C and D low risk."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"

    @property
    def is_high_risk(self) -> bool:
        return self in (RiskGrade.A, RiskGrade.B)

    @property
    def severity(self) -> int:
        """Higher is riskier; R33 gives an application the highest grade among its lines."""
        return {"A": 4, "B": 3, "C": 2, "D": 1}[self.value]


class WriteOffMode(StrEnum):
    """单次有效 (single-use, R40) or 分批核销 (multi-use, R41)."""

    SINGLE = "single"
    MULTIPLE = "multiple"


class RegulatedAs(StrEnum):
    """How another regulator manages the goods; under R5 drug/device/veterinary items leave the regime."""

    NONE = "none"
    DRUG = "drug"
    VETERINARY_DRUG = "veterinary_drug"
    MEDICAL_DEVICE = "medical_device"


class Exclusion(StrEnum):
    """The R4 list of goods that need no approval at all."""

    NON_PATHOGENIC_MEDICAL_MICROBE = "non_pathogenic_medical_microbe"
    NON_RECOMBINANT_INSULIN = "non_recombinant_insulin"
    SINGLE_NUCLEOTIDE_OR_AMINO_ACID = "single_nucleotide_or_amino_acid"
    POLYSACCHARIDE = "polysaccharide"
    HEPARIN = "heparin"
    STREPTOMYCIN_OR_PENICILLIN = "streptomycin_or_penicillin"
    NON_PATHOGEN_NON_HUMAN_ANTIGEN = "non_pathogen_non_human_antigen"
    HUMAN_REMAINS_NOT_FOR_RESEARCH = "human_remains_not_for_research"


class ProteinPurity(StrEnum):
    """R29/R30: unlysed or partly purified proteins are grade B, fully lysed or purified ones grade C."""

    NOT_A_PROTEIN = "not_a_protein"
    PURIFIED = "purified"
    CRUDE = "crude"


@dataclass(frozen=True)
class ProductIdentity:
    """What makes two goods 'the same product' for first-time (R60) and entity-level assessment reuse (R63)."""

    category: GoodsCategory | None
    name_zh: str
    specification: str
    manufacturer: str
    origin_country: str
    intended_use: str
    user_lab: str


@dataclass(frozen=True)
class GoodsLine:
    """One line of an application (审批单货物明细): identity, quantity and the facts that grade it.

    `category` is None when the applicant is unsure the goods are special goods at all (a pre-check).
    """

    name_zh: str
    name_en: str
    category: GoodsCategory | None
    quantity: Decimal
    unit: str
    specification: str = ""
    manufacturer: str = ""
    origin_country: str = ""
    intended_use: str = ""
    user_lab: str = ""
    pathogen_class: int | None = None
    may_contain_unknown_agent: bool = False
    is_parasite: bool = False
    is_environmental_agent: bool = False
    nucleic_acid_of_pathogen_class: int | None = None
    is_pathogen_toxin: bool = False
    protein_purity: ProteinPurity = ProteinPurity.NOT_A_PROTEIN
    is_commercial_cell_line: bool = False
    involves_hgr: bool = False
    regulated_as: RegulatedAs = RegulatedAs.NONE
    has_domestic_approval: bool = False
    has_foreign_approval: bool = False
    exclusion: Exclusion | None = None
    is_self_use_one_course: bool = False
    bsl_level: int | None = None  # stated by the applicant; old data. The lab named by `lab_id` decides (R62)
    lab_id: int | None = None  # the enterprise's registered user lab (workflow/domain/biosafety.py); `user_lab` is text
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_highly_pathogenic(self) -> bool:
        return self.pathogen_class in (1, 2)

    @property
    def contains_pathogen(self) -> bool:
        return self.pathogen_class is not None or self.may_contain_unknown_agent or self.is_parasite

    @property
    def identity(self) -> ProductIdentity:
        return ProductIdentity(
            category=self.category,
            name_zh=self.name_zh,
            specification=self.specification,
            manufacturer=self.manufacturer,
            origin_country=self.origin_country,
            intended_use=self.intended_use,
            user_lab=self.user_lab,
        )
