"""The certificate page offers its PDF to the holder, the port officer and the auditor, with its verification link."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from tasks.documents import certificate_folder, render_certificate_document
from tests.ui.conftest import Pages
from workflow.store.tables import CertificateRow

PREPARING = "审批单 PDF 正在生成，请稍后再试。"
VERIFY_LINK = re.compile(r'<a href="([^"]+)" data-verify-link>')


def _certificate(pages: Pages) -> tuple[int, str]:
    """The demo's certificate of xiamen.applicant's enterprise; its PDF is not rendered yet."""
    with pages.container.sessions() as session:
        found = session.execute(select(CertificateRow.id, CertificateRow.certificate_no).order_by(CertificateRow.id))
        certificate_id, number = found.first() or (0, "")
    assert not (certificate_folder(pages.container) / f"{number}.pdf").exists()
    return certificate_id, number


def test_until_the_pdf_is_rendered_the_page_and_the_download_say_it_is_being_prepared(pages: Pages) -> None:
    certificate_id, _number = _certificate(pages)
    pages.sign_in("xiamen.applicant")
    page = pages.text(f"/ui/certificates/{certificate_id}")
    assert PREPARING in page and "data-download" not in page
    response = pages.client.get(f"/ui/certificates/{certificate_id}/pdf")
    assert response.status_code == 404 and PREPARING in response.get_data(as_text=True)


def test_the_holder_the_port_officer_and_the_auditor_download_it_and_see_the_verification_link(pages: Pages) -> None:
    certificate_id, number = _certificate(pages)
    render_certificate_document(pages.container, certificate_id)
    stored = (certificate_folder(pages.container) / f"{number}.pdf").read_bytes()
    for username in ("xiamen.applicant", "xiamen.port_officer", "xiamen.auditor"):
        pages.sign_in(username)
        page = pages.text(f"/ui/certificates/{certificate_id}")
        assert f'href="/ui/certificates/{certificate_id}/pdf"' in page and "下载审批单 PDF" in page, username
        assert PREPARING not in page
        response = pages.client.get(f"/ui/certificates/{certificate_id}/pdf")
        assert response.status_code == 200 and response.data == stored, username
        assert response.headers["Content-Disposition"] == f"attachment; filename={number}.pdf"
        pages.client.post("/ui/sign-out", data={"csrf_token": pages.csrf(f"/ui/certificates/{certificate_id}")})


def test_the_verification_link_on_the_page_checks_out(pages: Pages) -> None:
    certificate_id, number = _certificate(pages)
    render_certificate_document(pages.container, certificate_id)
    pages.sign_in("xiamen.applicant")
    link = VERIFY_LINK.search(pages.text(f"/ui/certificates/{certificate_id}"))
    assert link is not None
    payload = re.search(r"[?&]payload=([^&]+)", html.unescape(link.group(1)))
    assert link.group(1).startswith("http://localhost/verify?payload=") and payload is not None
    verdict = pages.client.post("/verify", data={"payload": payload.group(1)})
    assert verdict.status_code == 200 and number in verdict.get_data(as_text=True)
    followed = pages.client.get(html.unescape(link.group(1)).removeprefix("http://localhost"))  # the link itself
    assert followed.status_code == 200 and number in followed.get_data(as_text=True)
    tampered = pages.client.get("/verify", query_string={"payload": payload.group(1)[:-4] + "AAAA"})
    assert tampered.status_code == 422


def test_a_reviewer_sees_the_link_but_may_not_download_and_another_district_sees_nothing(pages: Pages) -> None:
    certificate_id, _number = _certificate(pages)
    render_certificate_document(pages.container, certificate_id)
    pages.sign_in("xiamen.reviewer")
    page = pages.text(f"/ui/certificates/{certificate_id}")
    assert "data-verify-link" in page and "data-download" not in page
    assert pages.client.get(f"/ui/certificates/{certificate_id}/pdf").status_code == 403
    pages.client.post("/ui/sign-out", data={"csrf_token": pages.csrf(f"/ui/certificates/{certificate_id}")})
    pages.sign_in("fuzhou.auditor")
    assert pages.client.get(f"/ui/certificates/{certificate_id}/pdf").status_code == 404
