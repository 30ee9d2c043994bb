"""Every reason the rules write, under every policy, reads in Chinese through the reason catalog (web/ui/reasons.py).

The grid below feeds the rules of workflow/domain/rules.py goods of every kind, in both directions, under each
profile of config/policies, for every grade and credit tier the profile knows; each reason it yields must match a
catalog shape and come out free of English words (identifiers such as rule ids and grades aside).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from config.profiles import load_policies
from web.ui import reasons
from workflow.domain import rules
from workflow.domain.errors import DomainError
from workflow.domain.goods import (
    Direction,
    Exclusion,
    GoodsCategory,
    GoodsLine,
    ProductIdentity,
    ProteinPurity,
    RegulatedAs,
)
from workflow.domain.policy import Policy
from workflow.domain.rules import Decision

WEB = "web"
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
IDENTIFIERS = re.compile(r"\b[A-Z]{1,3}\d+\b|\bBSL-\d\b|\b[A-D]\b")
BASE = GoodsLine(name_zh="样品", name_en="", category=GoodsCategory.MICROORGANISM, quantity=Decimal(1), unit="支")
FACTS = (
    {"pathogen_class": 1},
    {"pathogen_class": 3},
    {"pathogen_class": 4},
    {"category": GoodsCategory.BLOOD},
    {"category": GoodsCategory.HUMAN_TISSUE, "involves_hgr": True},
    {"category": GoodsCategory.HUMAN_TISSUE, "is_commercial_cell_line": True},
    {"is_environmental_agent": True},
    {"may_contain_unknown_agent": True},
    {"is_parasite": True},
    {"nucleic_acid_of_pathogen_class": 2},
    {"is_pathogen_toxin": True},
    {"category": GoodsCategory.BIOLOGICAL_PRODUCT, "protein_purity": ProteinPurity.CRUDE},
    {"category": GoodsCategory.BIOLOGICAL_PRODUCT, "protein_purity": ProteinPurity.PURIFIED},
    {"category": GoodsCategory.BLOOD_PRODUCT, "regulated_as": RegulatedAs.DRUG, "has_domestic_approval": True},
    {"category": GoodsCategory.BIOLOGICAL_PRODUCT, "regulated_as": RegulatedAs.MEDICAL_DEVICE,
     "has_foreign_approval": True},
    {"category": None},
    {"category": GoodsCategory.BLOOD, "is_self_use_one_course": True},
    *({"exclusion": exclusion} for exclusion in Exclusion),
)  # fmt: skip


def lines() -> Iterator[GoodsLine]:
    for facts in FACTS:
        yield dataclasses.replace(BASE, **facts)


def decisions(policy: Policy) -> Iterator[Decision[object]]:
    """Every decision the rules reach for the grid under `policy`; refusals (a grade the profile lacks) skipped."""
    for direction in Direction:
        for line in lines():
            yield from _attempt(rules.scope, line, direction, policy)
            yield from _attempt(rules.grade_line, line, direction, policy)
            yield from _attempt(rules.grade_application, [line, BASE], direction, policy)
        for natural in (False, True):
            yield from _attempt(rules.applicant_may_apply, [BASE], natural)
            for first in (False, True):
                yield from _attempt(rules.required_documents, list(lines())[:6], direction, first, natural)
        for grade in sorted(policy.grades):
            yield from _attempt(rules.follow_up_required, grade, direction, policy)
            for first in (False, True):
                for tier in policy.credit.tiers:
                    yield from _attempt(rules.paperless, grade, direction, first, tier, policy)
    for grade in sorted(policy.grades):
        yield from _attempt(rules.validity_months, grade, policy)
        yield from _attempt(rules.validity_until, date(2026, 1, 31), grade, policy)
        yield from _attempt(rules.write_off_mode, grade, policy)
        yield from _attempt(rules.risk_assessment_route, grade, policy)
        for tier in policy.credit.tiers:
            yield from _attempt(rules.inspection_rate, grade, tier, policy)
    identity = ProductIdentity(GoodsCategory.BLOOD, "人血浆", "", "", "", "", "")
    yield from _attempt(rules.is_first_time, identity, [identity])
    yield from _attempt(rules.is_first_time, identity, [])


def _attempt(rule: Callable[..., Decision[object]], *facts: object) -> Iterator[Decision[object]]:
    try:
        yield rule(*facts)
    except DomainError:  # a grade or tier the profile does not have: no reason to show
        return


@pytest.fixture(scope="module")
def app() -> Flask:
    made = Flask(__name__, root_path=str(Path(__file__).resolve().parents[2] / WEB))
    made.config["BABEL_TRANSLATION_DIRECTORIES"] = "translations"
    Babel(made)
    return made


@pytest.mark.parametrize("policy_id", sorted(load_policies()))
def test_every_rule_reason_reads_in_chinese(app: Flask, policy_id: str) -> None:
    policy = load_policies()[policy_id]
    untranslated: dict[str, str] = {}
    seen = {decision.reason for decision in decisions(policy)}
    assert len(seen) > 40, "the grid reaches most of the rules' reasons"
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        for decision in decisions(policy):
            shown = str(reasons.translate(decision.reason))
            text = re.sub(r"<[^>]+>", "", shown)
            if 'translate="no"' in shown or ENGLISH_WORD.search(IDENTIFIERS.sub("", text)):
                untranslated[decision.reason] = text
    assert untranslated == {}
