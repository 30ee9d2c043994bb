"""What a paperless certificate's signature covers: the canonical payload, its JSON bytes and the compact token.

Pure: the Ed25519 signing itself happens outside the domain (workflow/store/signing.py); docs/paperless.md has
the format.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from workflow.domain.errors import InvalidInput
from workflow.domain.model import Certificate, CertificateLine

PAYLOAD_VERSION = 1
PDF_HASH_FIELD = "pdf_sha256"

# The reasons a verification fails, named in the CLI's and the web page's verdicts.
SIGNATURE = "signature"
PDF_HASH = "pdf hash"
UNKNOWN_KEY = "unknown key"
FACTS_MISMATCH = "facts mismatch"


@dataclass(frozen=True)
class Holder:
    """The certificate holder as printed and signed: the enterprise's name and unified social credit code."""

    name: str
    uscc: str


@dataclass(frozen=True)
class SignedToken:
    """A compact token taken apart: the payload, the exact bytes that were signed, and the signature."""

    payload: Mapping[str, Any]
    signed_bytes: bytes
    signature: bytes

    @property
    def key_id(self) -> str:
        return str(self.payload.get("kid", ""))


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verification: valid, or the named checks that failed; the payload when one was read."""

    failures: tuple[str, ...]
    payload: Mapping[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return not self.failures


def certificate_facts(certificate: Certificate, holder: Holder, key_id: str) -> dict[str, Any]:
    """The facts the QR code carries: everything printed on the certificate that a port officer relies on."""
    return {
        "v": PAYLOAD_VERSION,
        "certificate_no": certificate.certificate_no,
        "holder": {"name": holder.name, "uscc": holder.uscc},
        "direction": certificate.direction.value,
        "grade": certificate.grade.value,
        "write_off_mode": certificate.write_off_mode.value,
        "paperless": certificate.paperless,
        "district": certificate.district,
        # Quantities as strings: a JSON number would pass through floats in most verifiers.
        "lines": [_line(line) for line in certificate.lines],
        "valid_from": certificate.valid_from.isoformat(),
        "valid_until": certificate.valid_until.isoformat(),
        "policy": {"id": certificate.policy_id, "hash": certificate.policy_hash},
        "kid": key_id,
    }


def _line(line: CertificateLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "name": line.name_zh,
        "approved_qty": quantity_text(line.approved_qty),
        "unit": line.unit,
    }


def quantity_text(qty: Decimal) -> str:
    """One spelling per quantity (100, not 100.0000 or 1E+2), so equal facts always sign the same bytes."""
    return format(qty.normalize(), "f")


def with_pdf_hash(facts: Mapping[str, Any], pdf_sha256: str) -> dict[str, Any]:
    """The full payload: the facts plus the SHA-256 of the rendered PDF (which carries the facts in its QR)."""
    return {**facts, PDF_HASH_FIELD: pdf_sha256}


def facts_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The facts inside a full payload, for comparing it with the QR code's."""
    return {key: value for key, value in payload.items() if key != PDF_HASH_FIELD}


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: one byte string per payload, so signer and verifier hash the same thing."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url (RFC 7515 §2); anything else is bad input, not a forgery."""
    if not text or any(ch not in _B64URL for ch in text):
        raise InvalidInput("not base64url text", field="payload")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise InvalidInput(f"not base64url text: {error}", field="payload") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def compact(payload: Mapping[str, Any], signature: bytes) -> str:
    """The QR code's text: base64url(canonical JSON) "." base64url(signature)."""
    return f"{b64url(canonical_json(payload))}.{b64url(signature)}"


def parse_compact(token: str) -> SignedToken:
    """Take a compact token apart; malformed text is `InvalidInput` (exit 2), a bad signature is for the verifier."""
    parts = token.strip().split(".")
    if len(parts) != 2:
        raise InvalidInput("a signed payload is two base64url parts joined by '.'", field="payload")
    signed_bytes, signature = b64url_decode(parts[0]), b64url_decode(parts[1])
    try:
        payload = json.loads(signed_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"the payload is not UTF-8 JSON: {error}", field="payload") from None
    if not isinstance(payload, dict) or payload.get("v") != PAYLOAD_VERSION:
        raise InvalidInput(f"not a version {PAYLOAD_VERSION} certificate payload", field="payload")
    return SignedToken(payload, signed_bytes, signature)
