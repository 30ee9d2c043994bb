"""The applicant pre-check: the documented examples, the JSON-ready output, and bad input named by its field path."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config.profiles import load_policies
from workflow.domain.errors import InvalidInput
from workflow.domain.goods import GoodsCategory, ProductIdentity
from workflow.service.precheck import parse_precheck_input, run_precheck

POLICIES = load_policies()
XIAMEN, GACC = POLICIES["xiamen-2016"], POLICIES["gacc-2026"]
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "precheck"


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def precheck(raw: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return run_precheck(parse_precheck_input(raw), kwargs.pop("policy", XIAMEN), **kwargs)


def minimal(**line: Any) -> dict[str, Any]:
    facts = {"name_zh": "重组人白细胞介素-6", "category": "biological_product", "quantity": "100", "unit": "vial",
             "protein_purity": "purified"} | line  # fmt: skip
    return {"direction": "entry", "applicant": {}, "lines": [facts]}


# --- The documented examples (docs/precheck.md) ------------------------------------------------------------------


def test_fx10_example_a_repeat_cytokine_is_grade_c_paperless_for_12_months_with_batch_write_off() -> None:
    overall = precheck(example("fx10-cytokine-repeat"))["overall"]
    assert overall["grade"]["result"] == "C"
    assert overall["paperless"]["result"] is True
    assert overall["validity_months"]["result"] == 12
    assert overall["write_off_mode"]["result"] == "multiple"
    assert overall["follow_up"]["result"] is False
    assert overall["inspection_rate"]["result"] == "0.02"  # S-C1 for an AEO
    assert overall["required_documents"]["result"] == ["application_form", "goods_description"]


def test_fx04_example_a_first_time_class_3_strain_is_grade_b_on_paper_with_local_risk_assessment() -> None:
    report = precheck(example("fx04-first-time-strain"))
    overall = report["overall"]
    assert overall["grade"]["result"] == "B"
    assert overall["paperless"]["result"] is False
    assert overall["paperless"]["rule_ids"] == ["R58", "R60"]
    assert overall["risk_assessment"]["result"]["assessor_level"] == "direct_customs"
    assert overall["follow_up"]["result"] is True
    assert "pathogen_description" in overall["required_documents"]["result"]
    assert "business_licence" in overall["required_documents"]["result"]


def test_fx05_example_competent_cells_are_not_special_goods_so_customs_would_not_accept() -> None:
    report = precheck(example("fx05-competent-cells"))
    assert report["lines"][0]["in_scope"] == {
        "result": False,
        "rule_ids": ["R4"],
        "reason": "a non-pathogenic medical microbe not engineered from a pathogen needs no approval (R4)",
    }
    assert report["overall"]["in_scope"]["rule_ids"] == ["R18"]
    assert report["overall"]["grade"] is None


@pytest.mark.parametrize("name", ["fx10-cytokine-repeat", "fx04-first-time-strain", "fx05-competent-cells"])
def test_the_output_is_plain_json_with_the_policy_id_and_hash(name: str) -> None:
    report = precheck(example(name))
    assert json.loads(json.dumps(report)) == report
    assert report["policy"] == {"id": XIAMEN.id, "name": XIAMEN.name, "hash": XIAMEN.content_hash}


def test_every_reported_decision_has_rule_ids_and_a_reason() -> None:
    line = precheck(example("fx04-first-time-strain"))["lines"][0]
    for key in ("in_scope", "grade", "validity_months", "write_off_mode", "paperless", "follow_up", "risk_assessment"):
        assert line[key]["rule_ids"], key
        assert line[key]["reason"], key


# --- Behaviour ----------------------------------------------------------------------------------------------------


def test_r60_prior_identities_from_the_system_make_a_repeat_application_paperless() -> None:
    identity = ProductIdentity(GoodsCategory.BIOLOGICAL_PRODUCT, "重组人白细胞介素-6", "", "", "", "", "")
    assert precheck(minimal())["overall"]["paperless"]["result"] is False
    assert precheck(minimal(), prior_identities=[identity])["overall"]["paperless"]["result"] is True


def test_r60_a_stated_first_time_false_makes_a_grade_c_application_paperless_without_prior_approvals() -> None:
    raw = minimal() | {"applicant": {"first_time": False}}
    assert precheck(raw)["overall"]["paperless"]["result"] is True


def test_r33_r18_a_mixed_application_is_graded_on_its_special_goods_lines_and_flags_the_rest() -> None:
    raw = minimal()
    raw["lines"].append({"name_zh": "肝素钠", "quantity": 5, "unit": "kg", "exclusion": "heparin"})
    report = precheck(raw)
    assert report["overall"]["grade"]["result"] == "C"
    assert "line(s) [2]" in report["overall"]["in_scope"]["reason"]
    assert report["lines"][1]["grade"] is None


def test_r10_a_natural_person_with_a_pathogen_line_may_not_apply_and_gets_no_document_list() -> None:
    raw = minimal(pathogen_class=3, category="microorganism", protein_purity="not_a_protein")
    raw["applicant"] = {"is_natural_person": True}
    overall = precheck(raw)["overall"]
    assert overall["applicant_may_apply"]["result"] is False
    assert overall["required_documents"] == {
        "result": None,
        "rule_ids": ["R10"],
        "reason": overall["applicant_may_apply"]["reason"],
    }


def test_r5_under_gacc_2026_an_approved_vaccine_is_not_special_goods() -> None:
    raw = minimal(regulated_as="drug", has_domestic_approval=True, protein_purity="not_a_protein")
    assert precheck(raw, policy=GACC)["lines"][0]["in_scope"]["rule_ids"] == ["R5"]


def test_a_json_number_quantity_becomes_an_exact_decimal() -> None:
    assert parse_precheck_input(minimal(quantity=2.5)).lines[0].quantity == Decimal("2.5")


def test_a_credit_tier_the_policy_does_not_know_is_invalid_input_on_applicant_credit_tier() -> None:
    raw = minimal() | {"applicant": {"credit_tier": "general_certified"}}
    with pytest.raises(InvalidInput) as refused:
        precheck(raw)
    assert refused.value.field == "applicant.credit_tier"


# --- Bad input: InvalidInput carries the dotted field path and the reason ------------------------------------------


def without(raw: dict[str, Any], *path: str | int) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    holder: Any = changed
    for part in path[:-1]:
        holder = holder[part]
    del holder[path[-1]]
    return changed


def with_value(raw: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    holder: Any = changed
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = value
    return changed


BASE = minimal()
BAD_INPUTS = {
    "negative-quantity": (with_value(BASE, -1, "lines", 0, "quantity"), "lines.0.quantity", "greater than 0"),
    "zero-quantity": (with_value(BASE, "0", "lines", 0, "quantity"), "lines.0.quantity", "greater than 0"),
    "text-quantity": (with_value(BASE, "many", "lines", 0, "quantity"), "lines.0.quantity", "decimal"),
    "boolean-quantity": (with_value(BASE, True, "lines", 0, "quantity"), "lines.0.quantity", "Decimal input"),
    "unknown-category": (with_value(BASE, "plasmid", "lines", 0, "category"), "lines.0.category", "microorganism"),
    "missing-unit": (without(BASE, "lines", 0, "unit"), "lines.0.unit", "Field required"),
    "missing-direction": (without(BASE, "direction"), "direction", "Field required"),
    "unknown-direction": (with_value(BASE, "transit", "direction"), "direction", "'entry' or 'exit'"),
    "no-lines": (with_value(BASE, [], "lines"), "lines", "at least 1"),
    "unknown-line-key": (with_value(BASE, "red", "lines", 0, "colour"), "lines.0.colour", "Extra inputs"),
    "unknown-top-key": (with_value(BASE, 1, "priority"), "priority", "Extra inputs"),
    "text-boolean": (with_value(BASE, "yes", "applicant", "is_natural_person"), "applicant.is_natural_person", "bool"),
    "pathogen-class-5": (with_value(BASE, 5, "lines", 0, "pathogen_class"), "lines.0.pathogen_class", "less than"),
    "number-date": (with_value(BASE, 20160301, "date"), "date", "YYYY-MM-DD"),
    "bad-date": (with_value(BASE, "2016-02-30", "date"), "date", "date"),
    "first-time-and-priors": (
        with_value(BASE, {"first_time": True, "prior_approvals": []}, "applicant"),
        "applicant.prior_approvals",
        "either first_time or prior_approvals",
    ),
    "prior-without-name": (
        with_value(BASE, {"prior_approvals": [{"category": "blood"}]}, "applicant"),
        "applicant.prior_approvals.0.name_zh",
        "Field required",
    ),
}


@pytest.mark.parametrize(("raw", "field", "reason"), list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_raises_invalid_input_naming_the_dotted_field_and_the_reason(
    raw: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_precheck_input(raw)
    assert refused.value.field == field
    assert reason in refused.value.message
    assert "; also" not in refused.value.message  # one problem, reported once
    assert refused.value.status == 400


def test_several_problems_are_all_reported_with_the_first_as_the_field() -> None:
    raw = with_value(without(BASE, "direction"), -1, "lines", 0, "quantity")
    with pytest.raises(InvalidInput) as refused:
        parse_precheck_input(raw)
    assert refused.value.field == "direction"
    assert refused.value.message == "Field required; also lines.0.quantity: Input should be greater than 0"
