"""Paperless certificates: the signed PDF rendered on grant, its QR payload, key rotation, and verification by the
CLI, the web page and a real worker process."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader
from sqlalchemy import func, select

from config.bootstrap import Container
from config.keys import key_ring
from tasks.documents import certificate_folder, render_certificate_document
from tests.conftest import Cast, make_cast, wait_for, wait_for_worker
from tests.integration.support import fx09_hek293, fx10_cytokine, grant, screened_by_the_worker
from web import create_app
from workflow.domain.goods import Direction
from workflow.domain.signature import (
    PDF_HASH,
    SIGNATURE,
    UNKNOWN_KEY,
    b64url,
    canonical_json,
    compact,
    parse_compact,
)
from workflow.store.signing import KeyRing, embedded_token, key_id, verify_pdf, verify_token
from workflow.store.tables import CertificateDocumentRow, CertificateRow, OutboxRow

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def rendered(container: Container, cast: Cast) -> Callable[..., tuple[str, bytes, str]]:
    """Grant a certificate and run the render task body directly: (number, PDF bytes, detached signature)."""

    def render(*lines: Any, direction: Direction = Direction.ENTRY) -> tuple[str, bytes, str]:
        number = grant(container, cast, *(lines or (fx10_cytokine(100),)), direction=direction)
        render_certificate_document(container, certificate_id(container, number))
        folder = certificate_folder(container)
        return number, (folder / f"{number}.pdf").read_bytes(), (folder / f"{number}.pdf.sig").read_text()

    return render


def certificate_id(container: Container, number: str) -> int:
    with container.sessions() as session:
        return int(session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == number)) or 0)


def documents(container: Container) -> list[CertificateDocumentRow]:
    with container.sessions() as session:
        return list(session.scalars(select(CertificateDocumentRow)))


def trusted(container: Container) -> dict[str, Any]:
    return key_ring(container.settings).public_keys()


def tamper_qty(token: str, qty: str) -> str:
    """The same signature over a payload whose first line's quantity was changed."""
    signed = parse_compact(token)
    payload = json.loads(signed.signed_bytes)
    payload["lines"][0]["approved_qty"] = qty
    return f"{b64url(canonical_json(payload))}.{token.split('.')[1]}"


# --- signing and verification ----------------------------------------------------------------------------------------


def test_grant_asks_for_the_render_in_the_same_transaction_as_the_certificate(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    with container.sessions() as session:
        payloads = session.scalars(select(OutboxRow.payload).where(OutboxRow.task == "render_certificate")).all()
    assert payloads == [{"certificate_id": certificate_id(container, number)}]


def test_a_rendered_certificate_round_trips_its_qr_payload_and_its_pdf(
    container: Container, rendered: Callable[..., tuple[str, bytes, str]]
) -> None:
    number, pdf, detached = rendered(fx10_cytokine(100))
    qr_token = embedded_token(pdf)
    assert qr_token is not None
    qr = verify_token(qr_token, trusted(container))
    assert qr.valid and qr.payload is not None
    assert qr.payload["certificate_no"] == number and qr.payload["holder"]["uscc"].startswith("91350200TEST")
    assert qr.payload["lines"] == [{"line_no": 1, "name": "重组人IL-6", "approved_qty": "100", "unit": "支"}]
    assert "pdf_sha256" not in qr.payload  # the QR cannot carry the hash of the PDF it is printed on
    full = verify_pdf(pdf, detached, trusted(container))
    assert full.valid and full.payload is not None
    assert full.payload["pdf_sha256"] == hashlib.sha256(pdf).hexdigest()
    [row] = documents(container)
    assert (row.pdf_sha256, row.key_id) == (full.payload["pdf_sha256"], qr.payload["kid"])
    assert row.payload == dict(full.payload) and compact(row.payload, parse_compact(detached).signature) == detached


@SQLITE_ONLY
def test_a_pdf_with_one_byte_changed_is_tampered_by_its_hash(
    container: Container, rendered: Callable[..., tuple[str, bytes, str]]
) -> None:
    _number, pdf, detached = rendered()
    middle = len(pdf) // 2
    damaged = pdf[:middle] + bytes([pdf[middle] ^ 0x01]) + pdf[middle + 1 :]
    verdict = verify_pdf(damaged, detached, trusted(container))
    assert not verdict.valid and PDF_HASH in verdict.failures and SIGNATURE not in verdict.failures


@SQLITE_ONLY
def test_a_payload_with_a_changed_quantity_fails_the_signature(
    container: Container, rendered: Callable[..., tuple[str, bytes, str]]
) -> None:
    _number, pdf, detached = rendered(fx10_cytokine(100))
    qr_token = embedded_token(pdf)
    assert qr_token is not None
    assert verify_token(tamper_qty(qr_token, "1000"), trusted(container)).failures == (SIGNATURE,)
    assert verify_token(tamper_qty(detached, "1000"), trusted(container)).failures == (SIGNATURE,)


@SQLITE_ONLY
def test_a_payload_signed_by_an_unknown_key_is_reported_as_such(
    container: Container, rendered: Callable[..., tuple[str, bytes, str]]
) -> None:
    _number, pdf, _detached = rendered()
    qr_token = embedded_token(pdf)
    assert qr_token is not None
    stranger = Ed25519PrivateKey.generate()
    payload = {**parse_compact(qr_token).payload, "kid": key_id(stranger.public_key())}
    forged = compact(payload, stranger.sign(canonical_json(payload)))
    assert verify_token(forged, trusted(container)).failures == (UNKNOWN_KEY,)


def test_keys_are_created_on_first_use_private_and_named_by_their_public_key(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    assert ring.public_keys() == {}  # reading never creates a key
    kid, signature = ring.sign(b"message")
    [(published_kid, public_key)] = ring.public_keys().items()
    public_key.verify(signature, b"message")
    raw = public_key.public_bytes_raw()
    assert published_kid == kid == key_id(public_key) == hashlib.sha256(raw).hexdigest()[:16]
    assert stat.S_IMODE((tmp_path / "keys" / f"{kid}.key.pem").stat().st_mode) == 0o600
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid, "use": "sig", "alg": "EdDSA"}
    assert ring.jwks() == {"keys": [jwk]}


@SQLITE_ONLY
def test_after_rotation_old_certificates_still_verify_and_new_ones_use_the_new_key(
    container: Container, rendered: Callable[..., tuple[str, bytes, str]]
) -> None:
    ring = key_ring(container.settings)
    _old_number, old_pdf, old_detached = rendered()
    old_kid = parse_compact(old_detached).key_id
    new_kid = ring.rotate()
    _new_number, new_pdf, new_detached = rendered()
    assert new_kid != old_kid and parse_compact(new_detached).key_id == new_kid
    assert verify_pdf(old_pdf, old_detached, trusted(container)).valid
    assert verify_pdf(new_pdf, new_detached, trusted(container)).valid
    assert {key["kid"] for key in ring.jwks()["keys"]} == {old_kid, new_kid}
    assert [(info.kid, info.active, info.can_sign) for info in ring.key_infos()] == [
        (old_kid, False, False),  # retired: its private key is gone, its public key still published
        (new_kid, True, True),
    ]


# --- the PDF ---------------------------------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(("direction", "title"), [(Direction.ENTRY, "入境"), (Direction.EXIT, "出境")])
def test_the_pdf_text_carries_the_number_the_title_and_every_line(
    rendered: Callable[..., tuple[str, bytes, str]], direction: Direction, title: str
) -> None:
    number, pdf, _detached = rendered(fx10_cytokine(100), fx09_hek293(5), direction=direction)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert number in text and f"{title}特殊物品卫生检疫审批单" in text
    assert "重组人IL-6" in text and "100" in text and "HEK293" in text and "5" in text
    assert "91350200TEST" in text and "测试企业" in text


def test_rendering_the_same_certificate_twice_writes_one_document(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    first = render_certificate_document(container, certificate_id(container, number))
    pdf = (certificate_folder(container) / f"{number}.pdf").read_bytes()
    second = render_certificate_document(container, certificate_id(container, number))
    assert first["created"] is True and second["created"] is False
    assert len(documents(container)) == 1
    assert (certificate_folder(container) / f"{number}.pdf").read_bytes() == pdf


# --- the CLI and the web page ----------------------------------------------------------------------------------------


def run_cli(container: Container, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SPECGOODS_DATABASE_URL": container.settings.effective_database_url,
        "SPECGOODS_INSTANCE_PATH": str(container.settings.instance_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@SQLITE_ONLY
def test_the_cli_exits_0_when_valid_1_when_tampered_and_2_on_bad_input(
    container: Container, rendered: Callable[..., tuple[str, bytes, str]], tmp_path: Path
) -> None:
    number, pdf, detached = rendered(fx10_cytokine(100))
    original = certificate_folder(container) / f"{number}.pdf"
    valid = run_cli(container, "verify", str(original), "--online")
    assert valid.returncode == 0, valid.stderr
    assert "VALID" in valid.stdout and number in valid.stdout and "100 支 remaining" in valid.stdout

    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(pdf[:-10] + b"%%EOF\n  \n")
    (tmp_path / "damaged.pdf.sig").write_text(detached)
    tampered = run_cli(container, "verify", str(damaged))
    assert tampered.returncode == 1 and "TAMPERED" in tampered.stdout and PDF_HASH in tampered.stdout

    qr_token = embedded_token(pdf)
    assert qr_token is not None
    assert run_cli(container, "verify", qr_token).returncode == 0
    changed = run_cli(container, "verify", tamper_qty(qr_token, "999"))
    assert changed.returncode == 1 and SIGNATURE in changed.stdout

    (tmp_path / "keys.json").write_text(run_cli(container, "keys", "jwks").stdout)
    assert run_cli(container, "verify", qr_token, "--jwks", str(tmp_path / "keys.json")).returncode == 0

    bad = run_cli(container, "verify", "not-a-payload")
    assert bad.returncode == 2 and "specgoods: error:" in bad.stderr
    assert run_cli(container, "verify", str(tmp_path / "missing.pdf")).returncode == 2


@SQLITE_ONLY
def test_keys_rotate_and_list_through_the_cli(container: Container) -> None:
    first = run_cli(container, "keys", "rotate").stdout.split()[-1]
    second = run_cli(container, "keys", "rotate").stdout.split()[-1]
    listing = run_cli(container, "keys", "list").stdout.splitlines()
    assert [(line.split()[0], line.split()[-1]) for line in listing] == [(first, "retired"), (second, "active")]


@SQLITE_ONLY
def test_the_web_publishes_the_jwks_and_verifies_payloads_and_pdfs(
    container: Container, rendered: Callable[..., tuple[str, bytes, str]]
) -> None:
    number, pdf, _detached = rendered(fx10_cytokine(100))
    client = create_app(container).test_client()
    keys = client.get("/.well-known/jwks.json")
    assert keys.status_code == 200 and [key["kid"] for key in keys.json["keys"]] == list(trusted(container))
    assert client.get("/verify").status_code == 200

    qr_token = embedded_token(pdf)
    assert qr_token is not None
    valid = client.post("/verify", data={"payload": qr_token, "online": "1"})
    page = valid.get_data(as_text=True)
    # Chinese first, from the catalog: 有效 (valid), and the live state in words, never its code
    assert valid.status_code == 200 and "✔ 有效" in page and number in page and ">active<" not in page
    assert "当前状态" in page

    tampered = client.post("/verify", data={"payload": tamper_qty(qr_token, "5000")})
    assert tampered.status_code == 422 and "已篡改" in tampered.get_data(as_text=True)

    upload = client.post("/verify", data={"pdf": (io.BytesIO(pdf), f"{number}.pdf"), "online": "1"})
    assert upload.status_code == 200 and "✔ 有效" in upload.get_data(as_text=True)
    damaged = pdf[:-10] + b"%%EOF\n  \n"
    broken = client.post("/verify", data={"pdf": (io.BytesIO(damaged), f"{number}.pdf")})
    assert broken.status_code == 422 and "PDF 文件不是签发时的文件" in broken.get_data(as_text=True)  # PDF_HASH

    assert client.post("/verify", data={"payload": "garbage"}).status_code == 400


# --- a real worker ---------------------------------------------------------------------------------------------------


def test_a_worker_process_renders_the_pdf_after_grant(
    make_container: Callable[..., Container],
    postgres_url: str,
    redis_url: str,
    start_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    from tests.conftest import _empty_tables

    _empty_tables(postgres_url)
    container = make_container(postgres_url, redis_url=redis_url, relay_after_commit=True)
    worker = start_worker(postgres_url, redis_url, concurrency=1)
    wait_for_worker(container, worker)
    number = grant(container, make_cast(container), fx10_cytokine(100), after_submit=screened_by_the_worker(container))

    def rendered() -> int:
        with container.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(CertificateDocumentRow)) or 0)

    wait_for(rendered, timeout=90, what="the worker to render the certificate")
    pdf = tmp_path / "worker-instance" / "certificates" / f"{number}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    keys = KeyRing(tmp_path / "worker-instance" / "keys").public_keys()
    assert verify_pdf(pdf.read_bytes(), pdf.with_name(pdf.name + ".sig").read_text(), keys).valid
