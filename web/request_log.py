"""One log line per request: its id, the route, who (by id only), the district, the object, the status, the time.

The request id is the client's `X-Request-ID` when it is a plausible id, else a new one; it is echoed in the
response and rides with every outbox row the request writes, so the tasks it causes log it too
(workflow/store/outbox_trace.py). Nothing a person typed is logged: no path with its query, no header, no body.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from apiflask import APIFlask
from flask import Response, g, request

from config.logs import configure_logging, object_of
from config.settings import Settings
from workflow.store.outbox_trace import current_request_id

HEADER = "X-Request-ID"
# Letters, digits and a few separators (UUIDs, ULIDs, a proxy's hex ids); anything else is replaced, not logged.
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
log = structlog.get_logger("specgoods.requests")


def register(app: APIFlask, settings: Settings) -> None:
    """First before every other hook and last after them, so even a request refused early gets its line."""
    configure_logging(settings)
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish)  # after-request hooks run last-registered first
    app.teardown_request(_forget)


def request_id_from(header: str | None) -> str:
    """The client's id when it is a plausible one, else a fresh one."""
    if header and VALID_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _begin() -> None:
    request_id = request_id_from(request.headers.get(HEADER))
    g.request_log = (time.perf_counter(), request_id)
    current_request_id.set(request_id)
    structlog.contextvars.bind_contextvars(request_id=request_id)


def _finish(response: Response) -> Response:
    started, request_id = g.get("request_log", (time.perf_counter(), request_id_from(None)))
    response.headers[HEADER] = request_id
    log.info("request", **_fields(response.status_code, time.perf_counter() - started, request_id))
    return response


def _forget(_error: BaseException | None) -> None:
    """Thread-pool servers reuse threads: nothing of this request may leak into the next one's lines or rows.

    Cleared, not reset to a token: a streamed response tears its request down twice (`stream_with_context`).
    """
    current_request_id.set(None)
    structlog.contextvars.unbind_contextvars("request_id")


def _fields(status: int, seconds: float, request_id: str) -> dict[str, Any]:
    rule = request.url_rule
    return {
        "request_id": request_id,
        "method": request.method,
        "route": rule.rule if rule is not None else None,  # the pattern, never the path with its query
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        **_who(),
        **object_of(request.view_args or {}),
    }


def _who() -> dict[str, Any]:
    """The actor already authenticated by this request (never loaded here): its id, role and district only."""
    actor = g.get("actor") or getattr(g.get("_login_user"), "actor", None)  # API credentials, or the UI's session
    if actor is None:
        return {"user_id": None}
    return {"user_id": actor.user_id, "role": actor.role.value, "district": actor.district}
