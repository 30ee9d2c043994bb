"""`/api/v1` certificates, declarations, write-offs and reversals.

Thin routes over workflow/service/declare.py, workflow/service/port_steps.py and workflow/service/certificates.py;
the certificate PDF comes from web/certificate_pdf.py, as on the pages.

Those commands carry their `Idempotency-Key` into their own transaction, so a retried write-off replays exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from apiflask import APIBlueprint
from flask import Response

from web import certificate_pdf as pdfs
from web import paging
from web.authz import READERS, guard, require_visible, scope_of
from web.context import container, current_actor
from web.idempotency import REPLAYED, idempotent, request_key
from web.request_reads import request_reads
from web.schemas import (
    AuditEvent,
    BigPageQuery,
    CertificateOut,
    CertificatePage,
    DeclarationBatchIn,
    DeclarationBatchOut,
    DeclarationIn,
    DeclarationOut,
    DeclarationPage,
    EndCertificateIn,
    InspectionIn,
    LabResultIn,
    PageQuery,
    ReasonIn,
    RemainingOut,
    ResolveHoldIn,
    ReversalDecisionIn,
    ReversalIn,
    ReversalOut,
    WriteOffPage,
)
from workflow.domain import commands as c
from workflow.domain.errors import NotFound
from workflow.domain.permissions import ENDING_ACTIONS, Action
from workflow.store import api_reads, ui_queries

blueprint = APIBlueprint("writeoffs", __name__, url_prefix="/api/v1", tag="Certificates and write-offs")
F = TypeVar("F", bound=Callable[..., Any])


def keyed(view: F) -> F:
    """Marks a POST whose command takes the `Idempotency-Key` itself (see module docstring)."""
    view.idempotency = "command"  # type: ignore[attr-defined]
    return view


Reply = tuple[dict[str, Any], int, dict[str, str]]


def _replayed(body: dict[str, Any], result: dict[str, Any], status: int) -> Reply:
    """The body (validated by the route's output model) and, for a replay, the header that says so."""
    replayed = bool(result.get("replayed"))
    return {**body, "replayed": replayed}, status, ({REPLAYED: "true"} if replayed else {})


# -- certificates ---------------------------------------------------------------------------------------------------


@blueprint.get("/certificates")
@guard(READERS, write=False)
@blueprint.input(PageQuery, location="query")
@blueprint.output(CertificatePage)
def list_certificates(query_data: PageQuery) -> dict[str, Any]:
    """Certificates the caller may see, newest first."""
    with request_reads() as session:
        rows = api_reads.certificates(session, scope_of(current_actor()), query_data.before, query_data.limit + 1)
    return paging.page(rows, query_data.limit)


@blueprint.get("/certificates/<int:certificate_id>")
@guard(READERS, write=False)
@blueprint.output(CertificateOut)
def show_certificate(certificate_id: int) -> dict[str, Any]:
    with request_reads() as session:
        return api_reads.certificate(session, certificate_id)


PDF_RESPONSES = {
    200: {
        "description": 'The signed certificate PDF, as an attachment; `Link: <…/verify?payload=…>; rel="verify"`',
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    },
    404: {"description": "No such certificate for the caller, or its PDF is still being prepared (try again later)"},
}


@blueprint.get("/certificates/<certificate_no>/pdf")
@guard(Action.DOWNLOAD_CERTIFICATE)
@blueprint.doc(responses=PDF_RESPONSES)
def certificate_pdf(certificate_no: str) -> Response:
    """The certificate PDF by its number, for its holder and the port officers and auditors of its district.

    Rendered and signed by the documents worker shortly after the grant; until then the answer is 404.
    """
    with request_reads() as session:
        certificate_id = ui_queries.certificate_id_by_no(session, certificate_no)
    if certificate_id is None:
        raise NotFound(f"no certificate {certificate_no}")
    require_visible(current_actor(), "certificate_id", certificate_id)
    found = pdfs.find(certificate_id, certificate_no.strip())
    if found is None:
        raise NotFound(f"the PDF of certificate {certificate_no} is being prepared: try again in a minute")
    return pdfs.download(found)


def _ending(trigger: str, action: Action) -> None:
    """Registers `POST /certificates/{id}/<trigger>`: C5 withdraw, C6 revoke, C7 cancel, each with its reason."""

    def end(certificate_id: int, json_data: EndCertificateIn) -> dict[str, Any]:
        command = c.EndCertificate(current_actor(), certificate_id, trigger, json_data.reason, json_data.fraud)
        container().bus.handle(command)
        with request_reads() as session:
            return api_reads.certificate(session, certificate_id)

    end.__name__ = f"{trigger}_certificate"
    end.__doc__ = (
        f"{trigger.capitalize()} the certificate (C5–C7), with a written reason; open reservations are released (W9)."
    )
    view = blueprint.output(CertificateOut)(blueprint.input(EndCertificateIn)(end))
    blueprint.post(f"/certificates/<int:certificate_id>/{trigger}")(guard(action)(idempotent(view)))


for _trigger, _action in ENDING_ACTIONS.items():
    _ending(_trigger, _action)


@blueprint.get("/certificates/<int:certificate_id>/remaining")
@guard(READERS, write=False)
@blueprint.output(RemainingOut)
def remaining(certificate_id: int) -> dict[str, Any]:
    """余量: per line, approved − committed − reserved."""
    with request_reads() as session:
        found = api_reads.certificate(session, certificate_id)
    return {"certificate_id": found["id"], **{k: found[k] for k in ("certificate_no", "state", "valid_until", "lines")}}


@blueprint.get("/certificates/<int:certificate_id>/write-offs")
@guard(READERS, write=False)
@blueprint.input(BigPageQuery, location="query")
@blueprint.output(WriteOffPage)
def write_off_history(certificate_id: int, query_data: BigPageQuery) -> dict[str, Any]:
    """The write-off ledger (W12), newest first: reservations, commits, releases and reversals."""
    with request_reads() as session:
        rows = api_reads.write_offs(session, certificate_id, query_data.before, query_data.limit + 1)
    return paging.page(rows, query_data.limit)


@blueprint.get("/certificates/<int:certificate_id>/audit")
@guard(READERS, write=False)
@blueprint.output(list[AuditEvent])
def certificate_audit(certificate_id: int) -> list[dict[str, Any]]:
    with request_reads() as session:
        return api_reads.audit_trail(session, "certificate", certificate_id)


# -- declarations ---------------------------------------------------------------------------------------------------


def _declaration(declaration_id: int, result: dict[str, Any] | None = None, status: int = 200) -> Reply:
    with request_reads() as session:
        body = api_reads.declaration(session, declaration_id)
    return _replayed(body, result or {}, status)


@blueprint.get("/declarations")
@guard(READERS, write=False)
@blueprint.input(BigPageQuery, location="query")
@blueprint.output(DeclarationPage)
def list_declarations(query_data: BigPageQuery) -> dict[str, Any]:
    with request_reads() as session:
        rows = api_reads.declarations(session, scope_of(current_actor()), query_data.before, query_data.limit + 1)
    return paging.page(rows, query_data.limit)


@blueprint.post("/declarations")
@guard(Action.DECLARE)
@keyed
@blueprint.input(DeclarationIn)
@blueprint.doc(responses={201: {"description": "Declared (or replayed)"}})
@blueprint.output(DeclarationOut, status_code=201)
def declare(json_data: DeclarationIn) -> Reply:
    """D1: declare a shipment against a certificate; it is checked, routed and, if released, written off at once."""
    result = container().bus.handle(_shipment(json_data, request_key()))
    if result.get("replayed"):  # answered from the first request's stored view: read what is stored now
        return _declaration(result["declaration_id"], result, 201)
    return _replayed(api_reads.declaration_from_view(result), result, 201)


@blueprint.post("/declarations/batch")
@guard(Action.DECLARE)
@keyed
@blueprint.input(DeclarationBatchIn)
@blueprint.doc(responses={201: {"description": "All declared (or replayed), in the order sent"}})
@blueprint.output(DeclarationBatchOut, status_code=201)
def declare_batch(json_data: DeclarationBatchIn) -> Reply:
    """D1 for a feed's burst of up to 500 declarations, judged in the order sent and filed in ONE transaction.

    Each is checked, routed and written off exactly as if declared alone, seeing what the earlier ones drew. One
    refused declaration refuses the batch (nothing is written) and the error's `field` names it, for example
    `declarations[3].certificate_no`. Declarations already filed under the same number replay.
    """
    shipments = tuple(_shipment(item) for item in json_data.declarations)
    result = container().bus.handle(c.DeclareShipments(current_actor(), shipments, idempotency_key=request_key()))
    views = result["declarations"]
    with request_reads() as session:
        bodies = api_reads.declarations_by_id(session, [view["declaration_id"] for view in views])
    items = [{**body, "replayed": bool(view.get("replayed"))} for body, view in zip(bodies, views, strict=True)]
    return _replayed({"declarations": items}, result, 201)


def _shipment(json_data: DeclarationIn, key: str = "") -> c.DeclareShipment:
    return c.DeclareShipment(
        current_actor(),
        json_data.declaration_no,
        json_data.certificate_no,
        json_data.declared_on,
        json_data.direction,
        tuple((line.line_no, line.qty) for line in json_data.lines),
        port=json_data.port,
        idempotency_key=key,
    )


@blueprint.get("/declarations/<int:declaration_id>")
@guard(READERS, write=False)
@blueprint.output(DeclarationOut)
def show_declaration(declaration_id: int) -> Reply:
    return _declaration(declaration_id)


@blueprint.get("/declarations/<int:declaration_id>/audit")
@guard(READERS, write=False)
@blueprint.output(list[AuditEvent])
def declaration_audit(declaration_id: int) -> list[dict[str, Any]]:
    with request_reads() as session:
        return api_reads.audit_trail(session, "declaration", declaration_id)


@blueprint.post("/declarations/<int:declaration_id>/inspection")
@guard(Action.RECORD_INSPECTION)
@keyed
@blueprint.input(InspectionIn)
@blueprint.output(DeclarationOut)
def record_inspection(declaration_id: int, json_data: InspectionIn) -> Reply:
    """D4/D5: `pass` releases the goods and commits the write-off; `sample` holds them; `fail` orders disposal."""
    command = c.RecordInspection(
        current_actor(), declaration_id, json_data.reason, request_key(), json_data.outcome, json_data.disposal
    )
    return _declaration(declaration_id, container().bus.handle(command))


@blueprint.post("/declarations/<int:declaration_id>/lab-result")
@guard(Action.RECORD_LAB_RESULT)
@keyed
@blueprint.input(LabResultIn)
@blueprint.output(DeclarationOut)
def record_lab_result(declaration_id: int, json_data: LabResultIn) -> Reply:
    """R47–R49: goods held for the laboratory are released only when they pass."""
    command = c.RecordLabResult(
        current_actor(), declaration_id, json_data.reason, request_key(), json_data.passed, json_data.disposal
    )
    return _declaration(declaration_id, container().bus.handle(command))


@blueprint.post("/declarations/<int:declaration_id>/resolve-hold")
@guard(Action.RESOLVE_HOLD)
@keyed
@blueprint.input(ResolveHoldIn)
@blueprint.output(DeclarationOut)
def resolve_hold(declaration_id: int, json_data: ResolveHoldIn) -> Reply:
    """W6: release the in-quota part (a disposal notice for the excess), or reject the whole shipment."""
    command = c.ResolveHold(
        current_actor(), declaration_id, json_data.reason, request_key(), json_data.split, json_data.disposal
    )
    return _declaration(declaration_id, container().bus.handle(command))


@blueprint.post("/declarations/<int:declaration_id>/withdraw")
@guard(Action.WITHDRAW_DECLARATION)
@keyed
@blueprint.input(ReasonIn)
@blueprint.output(DeclarationOut)
def withdraw_declaration(declaration_id: int, json_data: ReasonIn) -> Reply:
    """Before release: the declaration is deleted (删单) and its reservation released (W10)."""
    command = c.WithdrawDeclaration(current_actor(), declaration_id, json_data.reason, request_key())
    return _declaration(declaration_id, container().bus.handle(command))


# -- reversals (W10) ------------------------------------------------------------------------------------------------


def _reversal(reversal_id: int, result: dict[str, Any], status: int) -> Reply:
    with request_reads() as session:
        body = api_reads.reversal(session, reversal_id)
    return _replayed(body, result, status)


@blueprint.post("/write-offs/<int:entry_id>/reversals")
@guard(Action.REQUEST_REVERSAL)
@keyed
@blueprint.input(ReversalIn)
@blueprint.output(ReversalOut, status_code=201)
def request_reversal(entry_id: int, json_data: ReversalIn) -> Reply:
    """W10: a port officer asks to reverse (part of) a committed write-off; a decider approves it."""
    command = c.RequestReversal(
        current_actor(), entry_id, json_data.qty, json_data.reason_code, json_data.reason, request_key()
    )
    result = container().bus.handle(command)
    return _reversal(result["reversal_id"], result, 201)


@blueprint.get("/reversals/<int:reversal_id>")
@guard(READERS, write=False)
@blueprint.output(ReversalOut)
def show_reversal(reversal_id: int) -> Reply:
    return _reversal(reversal_id, {}, 200)


@blueprint.post("/reversals/<int:reversal_id>/decision")
@guard(Action.DECIDE_REVERSAL)
@keyed
@blueprint.input(ReversalDecisionIn)
@blueprint.output(ReversalOut)
def decide_reversal(reversal_id: int, json_data: ReversalDecisionIn) -> Reply:
    """W10: a decider other than the requester approves (the quantity returns to the line) or refuses."""
    command = c.DecideReversal(current_actor(), reversal_id, json_data.approve, json_data.reason, request_key())
    return _reversal(reversal_id, container().bus.handle(command), 200)
