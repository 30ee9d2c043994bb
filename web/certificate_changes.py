"""`/api/v1` changes to a granted certificate (R43, C7): the holder's requests and the district's decisions.

The request body is the service's own schema (`ChangeRequestIn`), the one the certificate page's forms are read
with, so both doors refuse the same input with the same field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict

from web.authz import READERS, guard
from web.context import container, current_actor
from web.idempotency import idempotent
from web.request_reads import request_reads
from web.schemas import Out, Timestamp
from workflow.domain import commands as c
from workflow.domain.permissions import Action
from workflow.service.certificate_changes import ChangeDecisionIn, ChangeRequestIn, request_command
from workflow.store import certificate_changes as reads

blueprint = APIBlueprint("certificate_changes", __name__, url_prefix="/api/v1", tag="Certificates and write-offs")


class FieldChangeOut(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str
    old: str | list[str]
    new: str | list[str]


class ChangeOut(Out):
    id: int
    certificate_id: int
    certificate_no: str
    certificate_state: str
    valid_until: date
    kind: str
    state: str
    reason: str
    changes: list[FieldChangeOut]
    requested_at: Timestamp
    decided_at: Timestamp | None
    decision_reason: str


def _view(change_id: int) -> dict[str, Any]:
    with request_reads() as session:
        return reads.change_view(session, change_id)


@blueprint.post("/certificates/<int:certificate_id>/changes")
@guard(Action.REQUEST_CERTIFICATE_CHANGE)
@idempotent
@blueprint.input(ChangeRequestIn)
@blueprint.output(ChangeOut, status_code=201)
def request_change(certificate_id: int, json_data: ChangeRequestIn) -> dict[str, Any]:
    """R43 / C7: ask the district to cancel the certificate (with its ground) or to amend its particulars.

    An amendment gives every particular as it should read; the field-level diff against the certificate is what is
    asked, and a field the district's profile keeps fixed is refused (a replacement application is needed).
    """
    change_id = container().bus.handle(request_command(current_actor(), certificate_id, json_data))
    return _view(change_id)


@blueprint.get("/certificate-changes/<int:change_id>")
@guard(READERS, write=False)
@blueprint.output(ChangeOut)
def show_change(change_id: int) -> dict[str, Any]:
    """A change request with the diff (field, old, new) the decider reads."""
    return _view(change_id)


@blueprint.post("/certificate-changes/<int:change_id>/decision")
@guard(Action.DECIDE_CERTIFICATE_CHANGE)
@idempotent
@blueprint.input(ChangeDecisionIn)
@blueprint.output(ChangeOut)
def decide_change(change_id: int, json_data: ChangeDecisionIn) -> dict[str, Any]:
    """Approve (the certificate is cancelled or amended; its validity never moves) or refuse with a reason, once."""
    container().bus.handle(c.DecideCertificateChange(current_actor(), change_id, json_data.approve, json_data.reason))
    return _view(change_id)


class ReplacementOut(Out):
    application_id: int
    replaces_certificate_id: int


@blueprint.post("/certificates/<int:certificate_id>/replacement")
@guard(Action.START_REPLACEMENT)
@idempotent
@blueprint.output(ReplacementOut, status_code=201)
def start_replacement(certificate_id: int) -> dict[str, Any]:
    """R43: a draft application pre-filled from the certificate (goods, ports, documents) for a substantive change.

    Revise it (`PATCH /applications/{id}`) and submit it like any application; granted, it supersedes the certificate
    (cancelled, its open reservations released, linked both ways); denied or withdrawn, nothing changes.
    """
    draft = container().bus.handle(c.StartReplacement(current_actor(), certificate_id))
    return {"application_id": draft, "replaces_certificate_id": certificate_id}
