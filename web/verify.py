"""Public verification: the JWKS of the certificate signing keys, and a page that checks a QR payload or a PDF.

Nothing here changes state, so the form posts without a CSRF token; every answer is computed from the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from config.keys import key_ring
from web import errors
from web.context import container
from web.request_reads import request_reads
from workflow.domain import inputs
from workflow.domain.errors import InvalidInput
from workflow.domain.signature import FACTS_MISMATCH, PDF_HASH, SIGNATURE, UNKNOWN_KEY, Verdict
from workflow.store.certificate_documents import live_status
from workflow.store.signing import stored_full_token, verify_pdf, verify_token

blueprint = Blueprint("verify", __name__)


FAILURES = {  # the checks a verdict names, in words
    SIGNATURE: _l("the signature does not match the certificate's facts"),
    PDF_HASH: _l("the PDF is not the one that was signed"),
    UNKNOWN_KEY: _l("signed with a key this service does not know"),
    FACTS_MISMATCH: _l("the QR code and the PDF name different facts"),
}


def _page(**context: Any) -> str:
    """The page for people, in their language (Chinese first): every word from the catalog, the payload as data."""
    return render_template("verify.html", failure_words=lambda failure: FAILURES.get(failure, failure), **context)


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(key_ring(container().settings).jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300  # a rotation shows within minutes; verifiers may cache that long
    return response


@blueprint.get("/verify")
def form() -> ResponseReturnValue:
    """The empty form; or, followed from a certificate's link or QR code (`?payload=`), that payload checked online."""
    token = request.args.get("payload", "").strip()
    if not token:
        return _page(verdict=None, status=None, typed="", problem=None), 200
    return _answer(lambda: verify_token(token, key_ring(container().settings).public_keys()), online=True, typed=token)


@blueprint.post("/verify")
def check() -> ResponseReturnValue:
    keys = key_ring(container().settings).public_keys()
    upload = request.files.get("pdf")
    typed = request.form.get("payload", "").strip()
    verdict = (
        (lambda: _verify_upload(upload.read(), keys)) if upload and upload.filename else lambda: _verify_text(keys)
    )
    return _answer(verdict, online=bool(request.form.get("online")), typed=typed)


def _answer(verdict_of: Callable[[], Verdict], online: bool, typed: str) -> ResponseReturnValue:
    """A page for people, JSON for a program that asks for it (Accept): 200 valid, 422 tampered.

    Unreadable input (400) is `unreadable`'s: whatever was pasted, an answer comes back, never a 500.
    """
    verdict = verdict_of()
    status = _status(verdict) if online else None
    code = 200 if verdict.valid else 422
    if _wants_json():
        body = {"valid": verdict.valid, "failures": list(verdict.failures), "payload": verdict.payload}
        return jsonify(body | {"status": status}), code
    page = _page(verdict=verdict, status=status, typed=_kept(typed), problem=None)
    return page, code


@blueprint.errorhandler(InvalidInput)
def unreadable(problem: InvalidInput) -> ResponseReturnValue:
    """Text that is no payload (or a NUL the request's own check refused): the form again with it, or problem+json.

    The documented 400 either way (docs/paperless.md): 422 here means a tampered certificate.
    """
    if _wants_json():
        detail = [{"field": problem.field, "reason": problem.message}] if problem.field else None
        return errors.problem(400, "InvalidInput", problem.message, type=errors.TYPES + "InvalidInput",
                              field=problem.field, errors=detail)  # fmt: skip
    typed = _kept(request.values.get("payload", "").strip())
    return _page(verdict=None, status=None, typed=typed, problem=problem), 400


def _kept(typed: str) -> str:
    """What was pasted, to correct in the form: cut beyond any real payload's length, control characters shown as �."""
    return "".join("\ufffd" if inputs.bad_character(char) else char for char in typed[:TYPED_KEPT])


TYPED_KEPT = 20_000  # what is pasted comes back in the form; beyond any real payload's length it is cut


def _wants_json() -> bool:
    """JSON only when the client prefers it to HTML: a browser's Accept (text/html first, */*) gets the page."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _verify_text(keys: Any) -> Verdict:
    token = request.form.get("payload", "").strip()
    if not token:
        raise InvalidInput("paste the QR code's payload or upload the certificate PDF", field="payload")
    return verify_token(token, keys)


def _verify_upload(pdf: bytes, keys: Any) -> Verdict:
    """The uploaded detached signature if any, else the one the database keeps for this certificate."""
    signature = request.files.get("signature")
    token = signature.read().decode("ascii", errors="replace").strip() if signature and signature.filename else None
    if token is None:
        with request_reads() as session:
            token = stored_full_token(session, pdf)
    if token is None:
        raise InvalidInput("no signature on record for this PDF: upload its .sig file too", field="signature")
    return verify_pdf(pdf, token, keys)


def _status(verdict: Verdict) -> dict[str, Any] | None:
    """The certificate's live state, looked up only by a number a certificate could have.

    A forged payload may carry anything, and a NUL or a megabyte is not a question for the database.
    """
    number = verdict.payload.get("certificate_no") if verdict.payload is not None else None
    if not isinstance(number, str) or not 0 < len(number) <= inputs.CODE or inputs.bad_character(number):
        return None
    with request_reads() as session:
        return live_status(session, number)
