"""Ed25519 keys for paperless certificates: the key folder, rotation, the JWKS document, signing and verifying.

The payload format is the domain's (workflow/domain/signature.py); this module holds the keys and the cryptography.
It is the adapter of the signer port (`Dependencies.sign`, the sequencer's head signatures); config/keys.py says
which folder an instance keeps its keys in.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from workflow.domain.errors import InvalidInput
from workflow.domain.signature import (
    FACTS_MISMATCH,
    PDF_HASH,
    PDF_HASH_FIELD,
    SIGNATURE,
    UNKNOWN_KEY,
    SignedToken,
    Verdict,
    b64url,
    b64url_decode,
    canonical_json,
    compact,
    facts_of,
    parse_compact,
)
from workflow.store.certificate_documents import document_by_hash, document_by_number

PublicKeys = Mapping[str, Ed25519PublicKey]
ACTIVE_FILE = "active"


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key: stable, and derivable by any verifier."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created_at: datetime
    active: bool
    can_sign: bool


class KeyRing:
    """`instance/keys/`: `<kid>.key.pem` (private, 0600) for the active key, `<kid>.pub.pem` for every key ever used.

    Rotation retires the old private key (it never signs again) and keeps its public key published, so everything
    it signed still verifies. The `active` file names the signing key; it is re-read on every signature, so a
    worker picks up a rotation without a restart.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cached: tuple[tuple[int, int], Signer] | None = None

    def sign_named(self, payload: Mapping[str, Any]) -> tuple[str, str]:
        """Sign a payload under the active key, naming the key in it: (kid, compact token).

        For receipts and checkpoints, signed inside hot transactions: the key is read again only when the `active`
        file changes (a rotation replaces it), not on every signature.
        """
        signer = self._current_signer()
        token, _signature = signer.sign_payload({**payload, "kid": signer.kid})
        return signer.kid, token

    def _current_signer(self) -> Signer:
        stamp = self._active_stamp()
        if self._cached is None or self._cached[0] != stamp or stamp == (0, 0):
            signer = self.signer()
            self._cached = (self._active_stamp(), signer)
            return signer
        return self._cached[1]

    def _active_stamp(self) -> tuple[int, int]:
        try:
            status = (self.folder / ACTIVE_FILE).stat()
        except FileNotFoundError:
            return (0, 0)
        return (status.st_ino, status.st_mtime_ns)

    def sign(self, message: bytes) -> tuple[str, bytes]:
        signer = self.signer()
        return signer.kid, signer.private_key.sign(message)

    def signer(self) -> Signer:
        """The active key, held for one document: its two signatures share a kid even if a rotation happens."""
        return Signer(*self._active_key())

    def rotate(self) -> str:
        """A new active key; the previous private key is deleted, its public key stays published."""
        retired = self._read_active()
        kid = self._write_new_key()
        _atomic_write(self.folder / ACTIVE_FILE, kid.encode("ascii"), 0o644)
        if retired and retired != kid:
            (self.folder / f"{retired}.key.pem").unlink(missing_ok=True)
        return kid

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every key ever used; reading them never creates one (the first signature does)."""
        return dict(self._published())

    def key_infos(self) -> list[KeyInfo]:
        """Every published key, oldest first, with which one signs now."""
        active = self._read_active()
        infos = [self._info(kid, active) for kid, _key in self._published()]
        return sorted(infos, key=lambda info: (info.created_at, info.kid))

    def _info(self, kid: str, active: str) -> KeyInfo:
        created = _mtime(self.folder / f"{kid}.pub.pem")
        return KeyInfo(kid, created, kid == active, (self.folder / f"{kid}.key.pem").exists())

    def jwks(self) -> dict[str, Any]:
        return jwks(self.public_keys())

    def _published(self) -> Iterator[tuple[str, Ed25519PublicKey]]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.pub.pem")):
            try:
                loaded = serialization.load_pem_public_key(path.read_bytes())
            except FileNotFoundError:
                continue  # the losing key of a first-use race, removed while we listed
            if isinstance(loaded, Ed25519PublicKey):
                yield key_id(loaded), loaded

    def _active_key(self) -> tuple[str, Ed25519PrivateKey]:
        kid = self._read_active() or self._create_first_key()
        try:
            loaded = serialization.load_pem_private_key((self.folder / f"{kid}.key.pem").read_bytes(), password=None)
        except FileNotFoundError:
            # A rotation retired this key between reading `active` and opening it: the new one is active now.
            return self._active_key()
        if not isinstance(loaded, Ed25519PrivateKey):
            raise InvalidInput(f"key {kid} in {self.folder} is not an Ed25519 key", field="keys")
        return kid, loaded

    def _read_active(self) -> str:
        try:
            return (self.folder / ACTIVE_FILE).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return ""

    def _create_first_key(self) -> str:
        """Two processes may race here: the first `active` link wins, the loser's key is discarded unused."""
        kid = self._write_new_key()
        staged = self.folder / f"{ACTIVE_FILE}.{kid}"
        staged.write_text(kid, encoding="ascii")
        try:
            os.link(staged, self.folder / ACTIVE_FILE)
        except FileExistsError:
            for suffix in (".key.pem", ".pub.pem"):
                (self.folder / f"{kid}{suffix}").unlink(missing_ok=True)
            kid = self._read_active()
        finally:
            staged.unlink()
        return kid

    def _write_new_key(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_key = Ed25519PrivateKey.generate()
        kid = key_id(private_key.public_key())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _atomic_write(self.folder / f"{kid}.key.pem", pem, 0o600)
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _atomic_write(self.folder / f"{kid}.pub.pem", public_pem, 0o644)
        return kid


def jwks(keys: PublicKeys) -> dict[str, Any]:
    """RFC 7517 key set of RFC 8037 OKP keys, which any JOSE library can load."""
    return {
        "keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": b64url(_raw(key)), "kid": kid, "use": "sig", "alg": "EdDSA"}
            for kid, key in sorted(keys.items())
        ]
    }


def keys_from_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS; the kid is recomputed from the key, so a mislabelled entry cannot vouch."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise InvalidInput('not a JWKS document: expected {"keys": [...]}', field="jwks")
    found: dict[str, Ed25519PublicKey] = {}
    for entry in document["keys"]:
        if isinstance(entry, dict) and entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519":
            key = Ed25519PublicKey.from_public_bytes(b64url_decode(str(entry.get("x", ""))))
            found[key_id(key)] = key
    return found


@dataclass(frozen=True)
class Signer:
    """One key, read once: a document's QR and detached signatures are made by the same key."""

    kid: str
    private_key: Ed25519PrivateKey

    def sign_payload(self, payload: Mapping[str, Any]) -> tuple[str, bytes]:
        """The compact token and the signature over the canonical JSON of a payload that names this key."""
        if payload.get("kid") != self.kid:
            raise ValueError(f"the payload names key {payload.get('kid')!r}, not the signer's {self.kid}")
        signature = self.private_key.sign(canonical_json(payload))
        return compact(payload, signature), signature


def verify_token(token: str, keys: PublicKeys) -> Verdict:
    return verify_signed(parse_compact(token), keys)


def verify_signed(signed: SignedToken, keys: PublicKeys) -> Verdict:
    key = keys.get(signed.key_id)
    if key is None:
        return Verdict((UNKNOWN_KEY,), signed.payload)
    try:
        key.verify(signed.signature, signed.signed_bytes)
    except InvalidSignature:
        return Verdict((SIGNATURE,), signed.payload)
    return Verdict((), signed.payload)


def verify_pdf(pdf: bytes, full_token: str, keys: PublicKeys) -> Verdict:
    """The full signature, the PDF's SHA-256 against it, and the QR's facts (when readable) against its facts."""
    full = parse_compact(full_token)
    if PDF_HASH_FIELD not in full.payload:
        raise InvalidInput("the detached signature carries no PDF hash: it is a QR payload", field="signature")
    failures = list(verify_signed(full, keys).failures)
    if hashlib.sha256(pdf).hexdigest() != full.payload[PDF_HASH_FIELD]:
        failures.append(PDF_HASH)
    embedded = embedded_token(pdf)
    if embedded is not None:
        qr = parse_compact(embedded)
        failures += [failure for failure in verify_signed(qr, keys).failures if failure not in failures]
        if facts_of(full.payload) != dict(qr.payload):
            failures.append(FACTS_MISMATCH)
    return Verdict(tuple(failures), full.payload)


# The QR's token is also written to the PDF's Keywords; WeasyPrint puts the info dictionary in a compressed object
# stream, so the search inflates each stream (stdlib zlib: the verifier needs no PDF library).
_KEYWORDS = re.compile(rb"/Keywords\s*\(([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\)")
_STREAM = re.compile(rb"stream\r?\n")


def embedded_token(pdf: bytes) -> str | None:
    for chunk in _pdf_chunks(pdf):
        match = _KEYWORDS.search(chunk)
        if match:
            return match.group(1).decode("ascii")
    return None


def _pdf_chunks(pdf: bytes) -> Iterator[bytes]:
    yield pdf
    for match in _STREAM.finditer(pdf):
        try:
            yield zlib.decompressobj().decompress(pdf[match.end() : match.end() + 4_000_000])
        except zlib.error:
            continue  # not a Flate stream, or damaged: the PDF hash check reports the damage


def pdf_sha256(pdf: bytes) -> str:
    return hashlib.sha256(pdf).hexdigest()


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _atomic_write(path: Path, content: bytes, mode: int) -> None:
    """Write beside, then rename: a reader never sees half a key; the mode is set before any byte lands."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, mode)
        os.write(handle, content)
    finally:
        os.close(handle)
    os.replace(temporary, path)


def stored_full_token(session: Session, pdf: bytes) -> str | None:
    """The detached signature the database keeps for a PDF, found by its QR's certificate number, else by its hash.

    The hash fallback finds the record of a PDF whose embedded facts were damaged beyond reading.
    """
    embedded = embedded_token(pdf)
    row = document_by_number(session, str(parse_compact(embedded).payload.get("certificate_no"))) if embedded else None
    row = row or document_by_hash(session, pdf_sha256(pdf))
    return compact(row.payload, b64url_decode(row.signature)) if row else None
