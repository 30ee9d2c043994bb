"""`/api/v1/applications`: filing (create, attach, submit, withdraw, answer a correction) and customs decisions.

Each customs action is allowed to the roles its lifecycle transition names (workflow/domain/lifecycle.py), so the
route table and the state machine cannot disagree about who decides what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiflask import APIBlueprint
from flask import request

from web import paging
from web.authz import READERS, guard, scope_of
from web.context import container, current_actor
from web.idempotency import idempotent
from web.request_reads import request_reads
from web.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPage,
    ApplicationQuery,
    AttachedOut,
    AuditEvent,
    CorrectionIn,
    DenyIn,
    DocumentIn,
    DraftIn,
    GrantIn,
    NotAcceptIn,
    ReasonIn,
    ReassignIn,
    ReviewOpinionIn,
)
from web.uploads import read_upload
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import PermissionDenied
from workflow.domain.permissions import Action
from workflow.domain.review import WORKING_PAPERS
from workflow.store import api_reads, queries

blueprint = APIBlueprint("api", __name__, url_prefix="/api/v1", tag="Applications")


def _view(application_id: int) -> dict[str, Any]:
    with request_reads() as session:
        return queries.application_view(session, application_id, container().deps.calendar)


@blueprint.get("/applications")
@guard(READERS, write=False)
@blueprint.input(ApplicationQuery, location="query")
@blueprint.output(ApplicationPage)
def list_applications(query_data: ApplicationQuery) -> dict[str, Any]:
    """Applications the caller may see, newest first."""
    with request_reads() as session:
        rows = api_reads.applications(
            session, scope_of(current_actor()), query_data.state, query_data.before, query_data.limit + 1
        )
    return paging.page(rows, query_data.limit)


@blueprint.post("/applications")
@guard(Action.CREATE_APPLICATION)
@idempotent
@blueprint.input(ApplicationIn)
@blueprint.output(ApplicationOut, status_code=201)
def create_application(json_data: ApplicationIn) -> dict[str, Any]:
    """A draft application of the caller's enterprise."""
    actor = current_actor()
    enterprise_id = json_data.enterprise_id or actor.enterprise_id or 0
    if enterprise_id != actor.enterprise_id:
        raise PermissionDenied("applicants file only for their own enterprise", rule_id="R11")
    lines = tuple(line.to_goods_line() for line in json_data.lines)
    command = c.CreateApplication(
        actor, enterprise_id, json_data.district, json_data.direction, lines, tuple(json_data.ports)
    )
    return _view(container().bus.handle(command))


@blueprint.get("/applications/<int:application_id>")
@guard(READERS, write=False)
@blueprint.output(ApplicationOut)
def show_application(application_id: int) -> dict[str, Any]:
    return _view(application_id)


@blueprint.patch("/applications/<int:application_id>")
@guard(Action.REVISE_APPLICATION)
@blueprint.input(DraftIn)
@blueprint.output(ApplicationOut)
def revise_draft(application_id: int, json_data: DraftIn) -> dict[str, Any]:
    """Replace a draft's (or a corrected application's) direction and goods lines; idempotent by nature."""
    lines = tuple(line.to_goods_line() for line in json_data.lines)
    ports = None if json_data.ports is None else tuple(json_data.ports)
    command = c.ReviseDraft(current_actor(), application_id, json_data.direction, lines, json_data.version, ports)
    container().bus.handle(command)
    return _view(application_id)


@blueprint.post("/applications/<int:application_id>/documents")
@guard(Action.ATTACH_DOCUMENT)
@idempotent
@blueprint.input(DocumentIn, location="form")
@blueprint.output(AttachedOut, status_code=201)
def attach_document(application_id: int, form_data: DocumentIn) -> dict[str, Any]:
    """A PDF, PNG or JPEG (multipart field `file`); the type is read from the bytes, not from the client."""
    upload = read_upload(request.files.get("file"))
    command = c.AttachDocument(
        current_actor(), application_id, form_data.doc_type, upload.filename, upload.content_type, upload.content
    )
    document_id = container().bus.handle(command)
    return {
        "id": document_id,
        "doc_type": form_data.doc_type,
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": len(upload.content),
    }


@blueprint.delete("/applications/<int:application_id>/documents/<int:document_id>")
@guard(Action.REMOVE_DOCUMENT)
@blueprint.output(ApplicationOut)
def remove_document(application_id: int, document_id: int) -> dict[str, Any]:
    """Take an attachment back while the applicant holds the file (draft or correction); kept for the record."""
    container().bus.handle(c.RemoveDocument(current_actor(), application_id, document_id))
    return _view(application_id)


@blueprint.get("/applications/<int:application_id>/audit")
@guard(READERS, write=False)
@blueprint.output(list[AuditEvent])
def application_audit(application_id: int) -> list[dict[str, Any]]:
    """Every transition of the application, oldest first; the applicant's without customs' working papers."""
    with request_reads() as session:
        trail = api_reads.audit_trail(session, "application", application_id)
    if current_actor().role is Role.APPLICANT:
        return [event for event in trail if event["trigger"] not in WORKING_PAPERS]
    return trail


# -- one route per transition ---------------------------------------------------------------------------------------

Build = Callable[[Actor, int, Any], c.Command]


def _action(path: str, action: Action, body: type | None, build: Build, summary: str) -> None:
    """Registers `POST /applications/{id}/<path>`, allowed to the roles the permission table gives `action`."""
    name = action.value.removeprefix("application.")

    def act(application_id: int, **data: Any) -> dict[str, Any]:
        container().bus.handle(build(current_actor(), application_id, data.get("json_data")))
        return _view(application_id)

    act.__name__ = f"{name}_application"
    act.__doc__ = summary
    view: Any = blueprint.output(ApplicationOut)(act)
    if body is not None:
        view = blueprint.input(body)(view)
    view = guard(action)(idempotent(view))
    blueprint.post(f"/applications/<int:application_id>/{path}")(view)


for _path, _trigger, _body, _build, _summary in (
    ("submit", "submit", None, lambda a, i, d: c.SubmitApplication(a, i), "Submit a draft (A1)."),
    ("resubmit", "resubmit", None, lambda a, i, d: c.ResubmitApplication(a, i), "Answer a correction notice."),
    ("withdraw", "withdraw", ReasonIn, lambda a, i, d: c.WithdrawApplication(a, i, d.reason), "Withdraw (A12)."),
    ("accept", "accept", None, lambda a, i, d: c.AcceptApplication(a, i), "Accept (受理)."),
    (
        "request-correction",
        "request_correction",
        CorrectionIn,
        lambda a, i, d: c.RequestCorrection(a, i, deficiencies=tuple(d.deficiencies)),
        "Issue the one-time correction notice (R17).",
    ),
    (
        "not-accept",
        "not_accept",
        NotAcceptIn,
        lambda a, i, d: c.NotAcceptApplication(a, i, d.reason, tuple(d.rule_ids)),
        "Refuse to accept (R18).",
    ),
    ("start-review", "start_review", None, lambda a, i, d: c.StartReview(a, i), "Start the documentary review."),
    (
        "refer-assessment",
        "refer_assessment",
        ReasonIn,
        lambda a, i, d: c.ReferAssessment(a, i, d.reason),
        "Refer to the district's risk assessment (R61).",
    ),
    (
        "review-opinion",
        "review_opinion",
        ReviewOpinionIn,
        lambda a, i, d: c.RecordReviewOpinion(a, i, d.reason, d.recommendation),
        "The reviewer's opinion to the decider (A6): a working paper, audited, never shown to the applicant.",
    ),
    ("extend", "extend", ReasonIn, lambda a, i, d: c.ExtendDeadline(a, i, d.reason), "Extend by 10 days (R20)."),
    (
        "override-assessment",
        "override_assessment",
        ReasonIn,
        lambda a, i, d: c.OverrideAssessment(a, i, d.reason),
        "The head overrides the expert panel's rejection with a written reason (A8).",
    ),
    ("grant", "grant", GrantIn, lambda a, i, d: c.GrantApplication(a, i, d.reason, d.grade), "Grant (准予许可)."),
    (
        "deny",
        "deny",
        DenyIn,
        lambda a, i, d: c.DenyApplication(a, i, d.reason, false_information=d.false_information),
        "Deny, with reasons (R25); with `false_information` the applicant may not apply for a year (R26).",
    ),
):
    _action(_path, Action(f"application.{_trigger}"), _body, _build, _summary)


# -- the review queue: claims are advisory and audited, not lifecycle transitions -------------------------------------

for _path, _queue_action, _body, _build, _summary in (
    ("claim", Action.CLAIM, None, lambda a, i, d: c.ClaimApplication(a, i), "Take the file from the queue."),
    ("unclaim", Action.UNCLAIM, None, lambda a, i, d: c.UnclaimApplication(a, i), "Put a claimed file back."),
    (
        "reassign",
        Action.REASSIGN,
        ReassignIn,
        lambda a, i, d: c.ReassignApplication(a, i, user_id=d.user_id),
        "Hand the file to another officer of the district (head only).",
    ),
):
    _action(_path, _queue_action, _body, _build, _summary)
