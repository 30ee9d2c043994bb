"""The auditor's tools on the pages: verify the hash chain, download a certificate's evidence pack, export a trail.

Each button runs the code the command line runs (`specgoods audit verify`, `specgoods audit export`:
workflow/store/audit_trail.py and workflow/store/evidence.py), so a page and an operator's shell can never disagree.
An auditor of a district verifies that district's chain; one without a district verifies every chain and the signed
receipts.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from config.keys import key_ring
from web.authz import scope_of
from web.context import container
from web.request_reads import request_reads
from web.ui.audit import chosen_object_type, ledger_page, visible_certificate
from web.ui.auth import actor, allow
from web.ui.objects import require_visible
from web.ui.refusals import back_to_the_page
from workflow.domain import audit_chain
from workflow.domain.errors import InvalidInput
from workflow.domain.permissions import Action
from workflow.store import api_reads
from workflow.store.audit_trail import verify_trail
from workflow.store.engine import READ_ONLY
from workflow.store.evidence import export_pack

blueprint = Blueprint("ui_audit_tools", __name__, url_prefix="/ui/audit/tools")
TRAIL_TYPES = ("application", "certificate", "declaration")
FINDINGS = {  # the chain walker's finding kinds, in words
    audit_chain.ALTERED: _l("An event was altered after it was sealed."),
    audit_chain.DELETED: _l("Events are missing from the chain."),
    audit_chain.INSERTED: _l("An event was inserted into the chain."),
    audit_chain.BROKEN_LINK: _l("An event does not link to the one before it."),
    audit_chain.CHECKPOINT: _l("A signed checkpoint does not match the chain."),
    audit_chain.UNSEALED: _l("Events have waited too long to be sealed."),
}


@blueprint.get("/verify")
@allow(Action.READ_AUDIT)
def verify() -> tuple[str, int]:
    """`specgoods audit verify` for the auditor's district (all districts and the receipts for one without)."""
    deps, district = container().deps, actor().district
    keys = key_ring(container().settings).public_keys()
    with container().engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        report = verify_trail(connection, keys, district, now=deps.clock.now())
    findings = [(row, str(FINDINGS[row.finding.kind])) for row in report.districts if row.finding is not None]
    return render_template("ui/audit/verify.html", report=report, findings=findings, whole=district is None), 200


@blueprint.post("/evidence-pack")
@allow(Action.READ_AUDIT)
@back_to_the_page(lambda refusal: ledger_page(None, refusal), lambda: "evidence-pack")
def evidence_pack() -> Response:
    """`specgoods audit export`: the certificate's evidence pack, a zip that `specgoods audit verify --pack` checks.

    A POST: the export seals the events waiting and signs a checkpoint first, so the pack ends at a signed head.
    """
    number = request.form.get("certificate_no", "").strip()
    visible_certificate(number or None)
    if not number:
        raise InvalidInput(_("Give the number of the certificate."), field="certificate_no")
    settings, clock = container().settings, container().deps.clock
    with request_reads() as session:
        folder, today = settings.instance_path / "certificates", clock.today(actor().district)
        content = export_pack(session, key_ring(settings), number, folder, clock.now(), today)
    return _download(content, "application/zip", f"{number}.zip")


@blueprint.get("/trail.json")
@allow(Action.READ_AUDIT)
def trail_export() -> Response:
    """One object's audit trail as JSON, the events as the API gives them, instants in UTC (ISO 8601, "Z")."""
    object_type = chosen_object_type(TRAIL_TYPES)
    object_id = request.args.get("object_id", type=int)
    if object_id is None:
        raise InvalidInput(_("Give the id of the object."), field="object_id")
    require_visible(f"{object_type}_id", object_id)
    with request_reads() as session:
        events = api_reads.audit_trail(session, object_type, object_id)
    body: dict[str, Any] = {"object_type": object_type, "object_id": object_id, "scope": scope_of(actor()).district}
    body["events"] = [{**event, "at": f"{event['at'].isoformat()}Z"} for event in events]
    text = json.dumps(body, ensure_ascii=False, indent=2)
    return _download(text.encode(), "application/json", f"trail-{object_type}-{object_id}.json")


def _download(content: bytes, mimetype: str, filename: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
