"""`/api/v1`: the JSON surface of the application lifecycle (the walking skeleton the full API grows from)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from web.context import container, current_actor
from workflow.domain import commands as c
from workflow.domain.actors import Actor, Role
from workflow.domain.errors import InvalidInput, NotFound
from workflow.domain.goods import Direction, RiskGrade
from workflow.service.precheck import parse_goods_lines
from workflow.store import queries

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

ALLOWED_UPLOADS = {"application/pdf": b"%PDF", "image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff"}


def _body() -> Mapping[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, Mapping):
        raise InvalidInput("the request body must be a JSON object", field="body")
    return data


def _text(data: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


def _choice(data: Mapping[str, Any], name: str, kind: Any) -> Any:
    try:
        return kind(_text(data, name))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(f"{name} must be one of: {allowed}", field=name) from None


def _strings(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"{name} must be a list of strings", field=name)
    return tuple(value)


def _view(application_id: int, actor: Actor) -> dict[str, Any]:
    with container().sessions() as session:
        view = queries.application_view(session, application_id, container().deps.calendar)
    _authorize_read(view, actor)
    return view


def _authorize_read(view: Mapping[str, Any], actor: Actor) -> None:
    """Applicants see their enterprise's files, officers their district's; anything else is 'not found'."""
    if actor.role is Role.APPLICANT:
        visible = view["enterprise_id"] == actor.enterprise_id
    else:
        visible = actor.district is None or view["district"] == actor.district
    if not visible:
        raise NotFound(f"no application {view['id']}")


@blueprint.post("/applications")
def create_application() -> tuple[Response, int]:
    actor, data = current_actor(), _body()
    enterprise_id = data.get("enterprise_id", actor.enterprise_id)
    if not isinstance(enterprise_id, int):
        raise InvalidInput("enterprise_id must be an integer", field="enterprise_id")
    command = c.CreateApplication(
        actor,
        enterprise_id,
        _text(data, "district"),
        _choice(data, "direction", Direction),
        parse_goods_lines(data.get("lines")),
    )
    application_id = container().bus.handle(command)
    return jsonify(_view(application_id, actor)), 201


@blueprint.post("/applications/<int:application_id>/documents")
def attach_document(application_id: int) -> tuple[Response, int]:
    actor = current_actor()
    upload = request.files.get("file")
    doc_type = request.form.get("doc_type", "")
    if upload is None or not doc_type:
        raise InvalidInput(
            "a multipart upload needs 'file' and 'doc_type'", field="file" if upload is None else "doc_type"
        )
    content = upload.read()
    content_type = _sniff(content)
    command = c.AttachDocument(actor, application_id, doc_type, upload.filename or "document", content_type, content)
    document_id = container().bus.handle(command)
    return jsonify(id=document_id, doc_type=doc_type, content_type=content_type, size=len(content)), 201


def _sniff(content: bytes) -> str:
    """Trust the bytes, not the client's declared type."""
    for content_type, magic in ALLOWED_UPLOADS.items():
        if content.startswith(magic):
            return content_type
    raise InvalidInput("only PDF, PNG and JPEG documents are accepted", field="file")


ACTIONS: dict[str, Callable[[Actor, int, Mapping[str, Any]], c.Command]] = {
    "submit": lambda a, i, d: c.SubmitApplication(a, i),
    "resubmit": lambda a, i, d: c.ResubmitApplication(a, i),
    "withdraw": lambda a, i, d: c.WithdrawApplication(a, i, _text(d, "reason", "")),
    "accept": lambda a, i, d: c.AcceptApplication(a, i),
    "request-correction": lambda a, i, d: c.RequestCorrection(a, i, deficiencies=_strings(d, "deficiencies")),
    "not-accept": lambda a, i, d: c.NotAcceptApplication(a, i, _text(d, "reason", ""), _strings(d, "rule_ids")),
    "start-review": lambda a, i, d: c.StartReview(a, i),
    "refer-assessment": lambda a, i, d: c.ReferAssessment(a, i, _text(d, "reason", "")),
    "extend": lambda a, i, d: c.ExtendDeadline(a, i, _text(d, "reason", "")),
    "grant": lambda a, i, d: c.GrantApplication(
        a, i, _text(d, "reason", ""), _choice(d, "grade", RiskGrade) if "grade" in d else None
    ),
    "deny": lambda a, i, d: c.DenyApplication(a, i, _text(d, "reason", "")),
}


@blueprint.post("/applications/<int:application_id>/<action>")
def act(application_id: int, action: str) -> Response:
    actor = current_actor()
    build = ACTIONS.get(action)
    if build is None:
        raise NotFound(f"no action {action!r}; known: {', '.join(ACTIONS)}")
    _view(application_id, actor)  # an object the actor may not see does not exist for them
    data = _body() if request.content_length else {}
    container().bus.handle(build(actor, application_id, data))
    return jsonify(_view(application_id, actor))


@blueprint.get("/applications/<int:application_id>")
def show(application_id: int) -> Response:
    return jsonify(_view(application_id, current_actor()))


@blueprint.get("/applications/<int:application_id>/audit")
def audit(application_id: int) -> Response:
    _view(application_id, current_actor())
    with container().sessions() as session:
        return jsonify(queries.audit_trail(session, "application", application_id))
