"""The auditor's (and head's) view of the latest policy-impact simulation: what `specgoods simulate` last wrote.

The page reads report.json from the instance's simulations/latest (`Settings.simulation_report_dir`) and draws
the side-by-side figures and charts itself, in the reader's language; it runs nothing (docs/simulator.md).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l

from web.context import container
from web.ui import charts
from web.ui.auth import allow
from workflow.domain.permissions import Action

blueprint = Blueprint("ui_simulation", __name__, url_prefix="/ui/audit/simulation")
FIGURES = {  # ProfileReport.summary's keys, in words
    "shipments": _l("Shipments"),
    "applications": _l("Applications filed"),
    "paper": _l("Paper approvals"),
    "paperless": _l("Paperless approvals"),
    "first_time": _l("First-time applications"),
    "assessments_local": _l("Risk assessments by the local panel"),
    "assessments_hq": _l("Risk assessments by headquarters"),
    "assessments_reused": _l("Risk assessments reused"),
    "assessment_days_p50": _l("Working days to conclude an assessment (median)"),
    "port_inspections": _l("Port inspections"),
    "clearance_days_p50": _l("Working days from application to first clearance (median)"),
    "clearance_days_p95": _l("Working days from application to first clearance (95th percentile)"),
    "release_days_p50": _l("Working days from a shipment's arrival to its release (median)"),
    "release_days_p95": _l("Working days from a shipment's arrival to its release (95th percentile)"),
    "certificates": _l("Certificates"),
    "write_offs": _l("Write-offs"),
    "write_offs_per_certificate": _l("Write-offs per certificate"),
    "pathogen_applications": _l("Applications naming a user laboratory"),
    "lab_corrections": _l("Corrections for a laboratory below the goods' level (R62)"),
    "credit_downgrades": _l("Credit downgrades and discredits"),
    "credit_restorations": _l("Credit restorations"),
    "officer_actions": _l("Officer actions"),
    "failures": _l("Failed steps"),
}
CHARTS = ("applications", "port_inspections", "officer_actions", "release_days_p95")


@blueprint.get("/")
@allow(Action.READ_AUDIT)
def latest() -> tuple[str, int]:
    """The latest report side by side, or a word on how to make one."""
    document = _latest()
    if document is None:
        return render_template("ui/audit/simulation.html", document=None), 200
    profiles = document["profiles"]
    table = [(FIGURES[key], [profile["summary"].get(key) for profile in profiles]) for key in FIGURES]
    drawn = [_chart(key, profiles) for key in CHARTS]
    changes = [(profile["profile"], change) for profile in profiles for change in profile.get("credit_changes", [])]
    return (
        render_template("ui/audit/simulation.html", document=document, table=table, charts=drawn, changes=changes),
        200,
    )


def _latest() -> dict[str, Any] | None:
    path = container().settings.simulation_report_dir / "report.json"
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # none written yet, or one being written: the page says how to make one
    return document if isinstance(document.get("profiles"), list) else None


def _chart(key: str, profiles: list[dict[str, Any]]) -> Any:
    items = [(str(p["profile"]), float(p["summary"].get(key) or 0), str(p["summary"].get(key))) for p in profiles]
    return charts.bars(items, str(FIGURES[key]))
