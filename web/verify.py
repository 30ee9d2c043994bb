"""Public verification: the JWKS of the certificate signing keys, and a page that checks a QR payload or a PDF.

Nothing here changes state, so the form posts without a CSRF token; every answer is computed from the request.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from config.signing import key_ring, stored_full_token, verify_pdf, verify_token
from web.context import container
from workflow.domain.errors import InvalidInput
from workflow.domain.signature import Verdict
from workflow.store.certificate_documents import live_status

blueprint = Blueprint("verify", __name__)


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(key_ring(container().settings).jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300  # a rotation shows within minutes; verifiers may cache that long
    return response


@blueprint.get("/verify")
def form() -> tuple[str, int]:
    """The empty form; or, followed from a certificate's link or QR code (`?payload=`), that payload checked online."""
    token = request.args.get("payload", "").strip()
    if not token:
        return render_template("verify.html", verdict=None, status=None), 200
    verdict = verify_token(token, key_ring(container().settings).public_keys())
    return render_template("verify.html", verdict=verdict, status=_status(verdict)), 200 if verdict.valid else 422


@blueprint.post("/verify")
def check() -> tuple[str, int]:
    keys = key_ring(container().settings).public_keys()
    upload = request.files.get("pdf")
    verdict = _verify_upload(upload.read(), keys) if upload and upload.filename else _verify_text(keys)
    status = _status(verdict) if request.form.get("online") else None
    return render_template("verify.html", verdict=verdict, status=status), 200 if verdict.valid else 422


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
        with container().sessions() as session:
            token = stored_full_token(session, pdf)
    if token is None:
        raise InvalidInput("no signature on record for this PDF: upload its .sig file too", field="signature")
    return verify_pdf(pdf, token, keys)


def _status(verdict: Verdict) -> dict[str, Any] | None:
    if verdict.payload is None:
        return None
    with container().sessions() as session:
        return live_status(session, str(verdict.payload.get("certificate_no", "")))
