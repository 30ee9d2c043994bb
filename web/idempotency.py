"""`Idempotency-Key` on every POST: a retried request gets the first response back instead of running twice.

Keys are scoped to the user who sent them. Write-off commands take the key into their own transaction (exactly once,
see workflow/service/writeoff.py); every other POST claims the key before running and stores its response after.
The same key with a different request is 422 (as a write-off command answers it); a key whose first request is still
running is 409.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, request

from web.context import container, current_actor
from workflow.domain.errors import ConcurrencyConflict, InvalidInput
from workflow.store.api_idempotency import ApiIdempotency

F = TypeVar("F", bound=Callable[..., Any])
HEADER = "Idempotency-Key"
KEY_FORMAT = re.compile(r"[A-Za-z0-9._:\-]{1,80}")
REPLAYED = "Idempotent-Replayed"


def request_key() -> str:
    """The caller's key scoped to the caller (so two users' keys never meet), or "" when none was sent."""
    key = request.headers.get(HEADER)
    if key is None:
        return ""
    if not KEY_FORMAT.fullmatch(key):
        raise InvalidInput(f"{HEADER} is 1 to 80 letters, digits or . _ : -", field=HEADER)
    return f"api:{current_actor().user_id}:{key}"


def fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def idempotent(view: F) -> F:
    """Wraps a POST whose command has no idempotency key of its own."""

    @wraps(view)
    def once(*args: Any, **kwargs: Any) -> Any:
        key = request_key()
        if not key:
            return view(*args, **kwargs)
        store = ApiIdempotency(container().sessions, container().deps.clock.now)
        stored = store.replay_or_claim(key, current_actor().user_id, fingerprint())
        if stored is not None:
            return _replay(*stored)
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            store.release(key)
            raise
        _keep(store, key, response)
        return response

    once.idempotency = "request"  # type: ignore[attr-defined]
    return once  # type: ignore[return-value]


def _keep(store: ApiIdempotency, key: str, response: Response) -> None:
    if response.status_code < 400:
        store.record(key, {"status": response.status_code, "body": response.get_json(silent=True)})
    else:
        store.release(key)


def _replay(stored_fingerprint: str, result: dict[str, Any]) -> Response:
    if stored_fingerprint != fingerprint():
        raise InvalidInput(f"this {HEADER} was used for a different request", field=HEADER)
    if not result:
        raise ConcurrencyConflict(f"the first request with this {HEADER} is still running; retry later", field=HEADER)
    response = jsonify(result["body"])
    response.status_code = result["status"]
    response.headers[REPLAYED] = "true"
    return response
