"""`/api/v1/.../laboratories`: an enterprise's labs (R9(b), R14, R62), kept by its admin and verified by its district.

The body is the one input schema of workflow/service/biosafety.py (`LaboratoryInput`), so the API, the page and the CLI
refuse the same input with the same field. Each write asks the permission predicate of workflow/domain/biosafety.py
before it builds the command; the handler asks it again inside the transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from apiflask import APIBlueprint
from flask import request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from web.authz import READERS, guard
from web.context import container, current_actor
from web.idempotency import idempotent
from web.request_reads import request_reads
from web.uploads import read_upload
from workflow.domain import commands as c
from workflow.domain import inputs
from workflow.domain.biosafety import Laboratory, LabOwner, may_maintain_labs, may_verify_lab
from workflow.domain.errors import NotFound, PermissionDenied
from workflow.domain.permissions import Action
from workflow.service.biosafety import LaboratoryInput
from workflow.store.enterprise_admin import is_enterprise_admin
from workflow.store.laboratories import enterprise_labs, laboratory_of
from workflow.store.tables import EnterpriseRow, LaboratoryRow

blueprint = APIBlueprint("laboratories", __name__, url_prefix="/api/v1", tag="Laboratories")
Version = Annotated[StrictInt, Field(ge=0, le=inputs.INT_MAX)]


class LaboratoryChange(LaboratoryInput):
    """The lab as it should now read, and the `version` you read (a stale edit is refused, 409)."""

    version: Version | None = None


class VerifyIn(BaseModel):
    """The `version` the officer checked: a lab edited meanwhile is not verified (409)."""

    model_config = ConfigDict(extra="forbid")
    version: Version | None = None


class LaboratoryOut(BaseModel):
    id: int
    enterprise_id: int
    district: str
    name: str
    address: str
    bsl_level: int
    accreditation_body: str
    accreditation_no: str
    valid_from: str | None
    valid_until: str | None
    evidence_filename: str
    evidence_sha256: str
    verified_on: str | None
    version: int


class LaboratoryList(BaseModel):
    items: list[LaboratoryOut]


@blueprint.get("/enterprises/<int:enterprise_id>/laboratories")
@guard(READERS, write=False)
@blueprint.output(LaboratoryList)
def list_laboratories(enterprise_id: int) -> dict[str, Any]:
    """The enterprise's labs, verified or not; applicants see their own, officers their district's."""
    with request_reads() as session:
        return {"items": [view(lab) for lab in enterprise_labs(session, enterprise_id)]}


@blueprint.get("/laboratories/<int:lab_id>")
@guard(READERS, write=False)
@blueprint.output(LaboratoryOut)
def show_laboratory(lab_id: int) -> dict[str, Any]:
    return view(_lab(lab_id))


@blueprint.post("/enterprises/<int:enterprise_id>/laboratories")
@guard(Action.MAINTAIN_LAB)
@idempotent
@blueprint.input(LaboratoryInput)
@blueprint.output(LaboratoryOut, status_code=201)
def register_laboratory(enterprise_id: int, json_data: LaboratoryInput) -> dict[str, Any]:
    """A new lab, unverified until an officer of the district checks its evidence (attach it next)."""
    with request_reads() as session:
        enterprise = session.get(EnterpriseRow, enterprise_id)
        district = enterprise.district if enterprise else None
    _require_maintainer(LabOwner(enterprise_id, district))  # one session at a time: SQLite begins IMMEDIATE
    lab_id = container().bus.handle(c.RegisterLaboratory(current_actor(), enterprise_id, json_data.details()))
    return view(_lab(lab_id))


@blueprint.put("/laboratories/<int:lab_id>")
@guard(Action.MAINTAIN_LAB)
@blueprint.input(LaboratoryChange)
@blueprint.output(LaboratoryOut)
def change_laboratory(lab_id: int, json_data: LaboratoryChange) -> dict[str, Any]:
    """The lab as it now reads; the verification starts again."""
    _require_maintainer(_owner(_lab(lab_id)))
    details = LaboratoryInput(**json_data.model_dump(exclude={"version"})).details()
    changed = container().bus.handle(c.ChangeLaboratory(current_actor(), lab_id, details, version=json_data.version))
    return view(changed)


@blueprint.post("/laboratories/<int:lab_id>/evidence")
@guard(Action.MAINTAIN_LAB)
@idempotent
@blueprint.output(LaboratoryOut)
def attach_evidence(lab_id: int) -> dict[str, Any]:
    """The evidence document (multipart part `file`: PDF, PNG or JPEG): the certificate of accreditation or level."""
    _require_maintainer(_owner(_lab(lab_id)))
    upload = read_upload(request.files.get("file"))
    sha256 = container().deps.documents.put(upload.content)
    command = c.ChangeLaboratory(current_actor(), lab_id, evidence=(sha256, upload.filename))
    return view(container().bus.handle(command))


@blueprint.post("/laboratories/<int:lab_id>/verify")
@guard(Action.VERIFY_LAB)
@idempotent
@blueprint.input(VerifyIn)
@blueprint.output(LaboratoryOut)
def verify_laboratory(lab_id: int, json_data: VerifyIn) -> dict[str, Any]:
    """An officer of the lab's district confirms the level and accreditation against the evidence (R9(b))."""
    lab = _lab(lab_id)
    if not may_verify_lab(current_actor(), lab):
        raise PermissionDenied("only an officer of the lab's district verifies it", rule_id="R7")
    return view(container().bus.handle(c.VerifyLaboratory(current_actor(), lab_id, json_data.version)))


def _require_maintainer(owner: LabOwner) -> None:
    actor = current_actor()
    with request_reads() as session:
        acting_is_admin = is_enterprise_admin(session, actor.user_id or 0)
    if not may_maintain_labs(actor, owner, acting_is_admin):
        raise PermissionDenied("only the enterprise's admin or a customs administrator of its district keeps its labs")


def _owner(lab: Laboratory) -> LabOwner:
    return LabOwner(lab.enterprise_id, lab.district)


def _lab(lab_id: int) -> Laboratory:
    with request_reads() as session:
        row = session.get(LaboratoryRow, lab_id)
        if row is None:
            raise NotFound(f"no laboratory {lab_id}")
        return laboratory_of(row)


def view(lab: Laboratory) -> dict[str, Any]:
    return lab.as_json()
