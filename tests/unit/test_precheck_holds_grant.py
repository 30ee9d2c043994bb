"""R15 in the pre-check when the system knows of the applicant's grants: the UI passes only the granted products
among the request's goods (R60), and separately whether the enterprise holds any grant at all."""

from __future__ import annotations

from typing import Any

from config.profiles import load_policies
from workflow.service.precheck import parse_precheck_input, run_precheck

XIAMEN = load_policies()["xiamen-2016"]
CYTOKINE = {"name_zh": "重组人白细胞介素-6", "category": "biological_product", "quantity": "100", "unit": "vial",
            "protein_purity": "purified"}  # fmt: skip


def overall(**kwargs: Any) -> dict[str, Any]:
    request = parse_precheck_input({"direction": "entry", "applicant": {}, "lines": [CYTOKINE]})
    report: dict[str, Any] = run_precheck(request, XIAMEN, **kwargs)["overall"]
    return report


def test_r15_an_enterprise_with_a_grant_of_other_products_files_no_licence_yet_r60_calls_the_product_new() -> None:
    first, established = overall(), overall(holds_grant=True)
    assert "business_licence" in first["required_documents"]["result"]
    assert "business_licence" not in established["required_documents"]["result"]
    assert established["first_time"]["result"] is True and first["first_time"]["result"] is True


def test_a_stated_first_time_still_wins_over_what_the_system_knows() -> None:
    stated = parse_precheck_input({"direction": "entry", "applicant": {"first_time": True}, "lines": [CYTOKINE]})
    report = run_precheck(stated, XIAMEN, holds_grant=True)["overall"]
    assert "business_licence" in report["required_documents"]["result"]
