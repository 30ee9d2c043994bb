"""The request id an outbox row carries, so the task it causes logs the id of the request that caused it.

No column for it: the id rides in the row's payload under one reserved key, and the publisher lifts it out into a
message header (`config/bootstrap.py`), so a task's own arguments never see it. A task sets the id again while it
runs, so the rows it writes in turn carry it one step further.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

REQUEST_ID_KEY = "_request_id"  # never a task argument: no task takes a parameter starting with "_"
REQUEST_ID_HEADER = "specgoods_request_id"
current_request_id: ContextVar[str | None] = ContextVar("specgoods_request_id", default=None)


def stamped(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the current request's id, when there is one; a row re-queued keeps the id it had."""
    request_id = current_request_id.get()
    if request_id is None or REQUEST_ID_KEY in payload:
        return payload
    return {**payload, REQUEST_ID_KEY: request_id}


def split(payload: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The task's arguments, and the request id that travels beside them as a message header."""
    arguments = dict(payload)
    request_id = arguments.pop(REQUEST_ID_KEY, None)
    return arguments, request_id if isinstance(request_id, str) else None
