"""`Idempotency-Key` on every POST: a retried request gets the first response back instead of running twice.

Keys are scoped to the user who sent them. Write-off commands take the key into their own transaction (exactly once,
see workflow/service/idempotency.py). Every other POST runs in one database transaction of its own that claims the
key, does the work and stores the response (workflow/store/request_transaction.py): committed all together or not
at all, so whatever dies when, a retry with the same key either replays the stored response or runs afresh, and no
key is left "still running". The same key with a different request is 422 (as a write-off command answers it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, request

from web.context import container, current_actor
from workflow.domain.errors import InvalidInput
from workflow.service.idempotency import replayed
from workflow.store.api_idempotency import ApiIdempotency
from workflow.store.request_transaction import Step, no_fault, one_transaction, step

F = TypeVar("F", bound=Callable[..., Any])
HEADER = "Idempotency-Key"
KEY_FORMAT = re.compile(r"[A-Za-z0-9._:\-]{1,80}")
REPLAYED = "Idempotent-Replayed"
# Test-only: app.extensions[FAULTS] may hold a hook called at each step of a keyed request (the crash tests kill the
# process there). Production never sets it.
FAULTS = "specgoods.idempotency_faults"


class _Unanswered(Exception):
    """A keyed request answered with an error: its transaction is rolled back, so its key stays free."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


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
        try:
            return _once(key, lambda: view(*args, **kwargs))
        except _Unanswered as unanswered:
            return unanswered.response

    once.idempotency = "request"  # type: ignore[attr-defined]
    return once  # type: ignore[return-value]


def _once(key: str, run: Callable[[], Any]) -> Response:
    """Claim, run and answer in one transaction; a replay or an error response commits nothing."""
    store = ApiIdempotency(container().sessions, container().deps.clock.now)
    with one_transaction(container().engine, _faults()):
        stored = store.replay_or_claim(key, current_actor().user_id, fingerprint())
        if stored is not None:
            return _replay(stored)
        step("claimed")
        response = current_app.make_response(run())
        step("answered")
        if response.status_code >= 400:
            raise _Unanswered(response)
        store.record(key, {"status": response.status_code, "body": response.get_json(silent=True)})
        step("recorded")
    return response


def _faults() -> Step:
    hook: Step = current_app.extensions.get(FAULTS, no_fault)
    return hook


def _replay(stored: tuple[str, dict[str, Any]]) -> Response:
    result = replayed(stored, fingerprint())
    response = jsonify(result["body"])
    response.status_code = result["status"]
    response.headers[REPLAYED] = "true"
    return response
