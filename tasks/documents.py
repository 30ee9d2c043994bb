"""The certificate PDF: rendered with WeasyPrint on grant, QR-signed, stored once under `instance/certificates/`.

Two signatures (docs/paperless.md): the QR carries the signed certificate facts; the full payload (facts plus the
PDF's SHA-256) is signed again and kept in `certificate_documents` and beside the PDF as `<no>.pdf.sig`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import segno
from celery import Celery
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import IntegrityError

from config.bootstrap import Container
from config.keys import key_ring
from tasks.workflow import RETRY
from workflow.domain.model import Certificate
from workflow.domain.signature import Holder, b64url, certificate_facts, quantity_text, with_pdf_hash
from workflow.store.certificate_documents import add_document, document_of, holder_of
from workflow.store.signing import pdf_sha256

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def register_document_tasks(app: Celery, container: Callable[[], Container]) -> None:
    @app.task(name="specgoods.render_certificate", **RETRY)
    def render_certificate(certificate_id: int) -> dict[str, Any]:
        return render_certificate_document(container(), certificate_id)


def certificate_folder(container: Container) -> Path:
    return container.settings.instance_path / "certificates"


def render_certificate_document(container: Container, certificate_id: int) -> dict[str, Any]:
    """Idempotent: a certificate that already has its signed document is left alone."""
    with container.deps.uow() as uow:
        if document_of(uow.session, certificate_id) is not None:
            return {"created": False, "certificate_id": certificate_id}
        certificate = uow.certificates.get(certificate_id)
        holder = holder_of(uow.session, certificate.enterprise_id)
    signer = key_ring(container.settings).signer()
    facts = certificate_facts(certificate, holder, signer.kid)
    qr_token, _signature = signer.sign_payload(facts)
    pdf = render_pdf(certificate, holder, qr_token, facts["kid"])
    full_payload = with_pdf_hash(facts, pdf_sha256(pdf))
    full_token, signature = signer.sign_payload(full_payload)
    with container.deps.uow() as uow:
        try:
            add_document(uow.session, certificate_id, full_payload, b64url(signature), container.deps.clock.now())
        except IntegrityError:
            log.info("certificate %s was rendered by another delivery", certificate.certificate_no)
            return {"created": False, "certificate_id": certificate_id}
        _write_files(container, certificate.certificate_no, pdf, full_token)
        uow.commit()  # row first, then files, then commit: a render that lost the race never overwrote the PDF
    return {"created": True, "certificate_id": certificate_id, "pdf_sha256": full_payload["pdf_sha256"]}


def render_pdf(certificate: Certificate, holder: Holder, qr_token: str, key_id: str) -> bytes:
    from weasyprint import HTML  # heavy (Pango, fonts): loaded by the documents worker only, on first render

    html = _templates.get_template("certificate.html").render(
        certificate=certificate,
        holder=holder,
        lines=[(line, quantity_text(line.approved_qty)) for line in certificate.lines],
        qr_svg=segno.make(qr_token, error="m", micro=False).svg_data_uri(scale=2, border=2),
        qr_token=qr_token,
        key_id=key_id,
    )
    pdf: bytes = HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    return pdf


def _write_files(container: Container, certificate_no: str, pdf: bytes, full_token: str) -> None:
    folder = certificate_folder(container)
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / f"{certificate_no}.pdf", pdf)
    _write(folder / f"{certificate_no}.pdf.sig", full_token.encode("ascii"))


def _write(path: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    os.replace(temporary, path)  # atomic: a reader never sees half a certificate
