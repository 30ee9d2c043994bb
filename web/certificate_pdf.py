"""The certificate PDF as people download it, and the link that verifies it: one lookup for the API and the pages.

The documents worker renders the PDF after the grant (tasks/documents.py) into `instance/certificates/<no>.pdf`
and records its signature; until both exist the certificate has no PDF yet, and each door says it is being prepared
(a 404, since a retry later will find it). The verification link carries the signed facts and the PDF's hash, the
text `/verify` checks against the published keys.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from flask import Response, send_file, url_for

from web.context import container
from web.request_reads import request_reads
from workflow.domain.signature import b64url_decode, compact
from workflow.store.certificate_documents import document_of
from workflow.store.tables import CertificateDocumentRow

FOLDER = "certificates"  # under the instance folder, as tasks/documents.py writes it (web may not import tasks)


@dataclass(frozen=True)
class CertificatePdf:
    certificate_no: str
    path: Path
    token: str

    @property
    def verify_url(self) -> str:
        return url_for("verify.form", payload=self.token, _external=True)


def find(certificate_id: int, certificate_no: str) -> CertificatePdf | None:
    """The rendered, signed PDF of a certificate, or None while the worker has not finished it."""
    with request_reads() as session:
        return found_in(document_of(session, certificate_id), certificate_no)


def found_in(document: CertificateDocumentRow | None, certificate_no: str) -> CertificatePdf | None:
    """`find`'s answer from the certificate's document row, where a page read it already.

    The signed token of its stored payload, then the rendered file.
    """
    token = compact(document.payload, b64url_decode(document.signature)) if document is not None else None
    path = container().settings.instance_path / FOLDER / f"{certificate_no}.pdf"
    if token is None or not path.is_file():
        return None
    return CertificatePdf(certificate_no, path, token)


def download(found: CertificatePdf) -> Response:
    """Always a download; private, since a certificate names its holder and quantities.

    Read whole (a certificate is tens of kilobytes) so no open file outlives the request.
    """
    content = io.BytesIO(found.path.read_bytes())
    name = f"{found.certificate_no}.pdf"
    response = send_file(content, mimetype="application/pdf", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Link"] = f'<{found.verify_url}>; rel="verify"'
    return response
