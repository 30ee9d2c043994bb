"""No dead ends for what the request itself carries: a NUL byte in a field, an upload over the request limit, a number
that names nothing. Each comes back to its form with the message at the field and the input kept (#16, item 4).
"""

from __future__ import annotations

import html
import re
from io import BytesIO

from tasks.documents import render_certificate_document
from tests.ui.conftest import Pages
from tests.ui.test_certificate_pdf_page import VERIFY_LINK
from tests.ui.test_no_dead_ends import BROWSER, CERTIFICATE, DRAFT, SUBMITTED, at_field, count, page_of, refused
from tests.ui.test_zh_everywhere import Crawl
from workflow.store.tables import DocumentRow, EnterpriseRow

NUL = "\x00"


def test_a_nul_byte_in_the_enterprise_profile_comes_back_at_its_field_with_the_rest_kept(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post("/ui/enterprise/profile", {"name": f"新名称{NUL}有限公司", "phone": "0592-1234567"})
    page = page_of(response)
    assert response.status_code == 422, page[:3000]
    assert 'id="name-error"' in page and 'value="0592-1234567"' in page
    assert "新名称" in page  # what was typed is still there, as typed apart from the byte the browser cannot show


def test_a_nul_byte_in_a_hidden_field_is_refused_by_the_form_and_nothing_changes(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    with pages.container.sessions() as session:
        names = session.query(EnterpriseRow.name).all()
    response = pages.post("/ui/enterprise/profile", {"name": "另一个名称", "version": f"1{NUL}"})
    assert response.status_code == 422, page_of(response)[:3000]
    with pages.container.sessions() as session:
        assert session.query(EnterpriseRow.name).all() == names


def test_a_nul_byte_in_an_action_form_returns_to_the_page_with_the_message_at_the_reason(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    response = pages.post(f"/ui/applications/{SUBMITTED}/act/not_accept", {"reason": f"材料{NUL}不全"})
    form = refused(response, 422)
    assert 'class="field invalid"' in form and 'class="error"' in form


def test_a_nul_byte_in_the_sign_in_name_is_the_sign_in_form_with_the_message_at_the_name(pages: Pages) -> None:
    response = pages.post("/ui/sign-in", {"username": f"xiamen{NUL}.applicant", "password": "whatever"})
    page = page_of(response)
    assert response.status_code == 400, page[:3000]
    assert 'id="username-error"' in page


def test_an_upload_over_the_request_limit_comes_back_to_the_upload_form_not_an_error_page(pages: Pages) -> None:
    pages.client.application.config["MAX_CONTENT_LENGTH"] = 2048  # the same path as 20 MB, with a small body
    pages.sign_in("xiamen.applicant")
    before = count(pages, DocumentRow)
    upload = {"doc_type": "other", "file": (BytesIO(b"%PDF-1.4\n" + b"0" * 8192), "大文件.pdf")}

    response = pages.post(f"/ui/applications/{DRAFT}/documents", upload, content_type="multipart/form-data")

    at_field(refused(response, 413), "file")
    assert count(pages, DocumentRow) == before


def test_a_ledger_check_of_an_unknown_number_keeps_it_at_its_field_and_checks_nothing(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    response = pages.client.get("/ui/audit/ledger-check?certificate_no=NO-SUCH-1")
    form = refused(response, 422)
    at_field(form, "certificate_no")
    assert 'value="NO-SUCH-1"' in form
    assert 'id="ledger-verdict"' not in page_of(response)


def test_an_evidence_pack_of_an_unknown_number_comes_back_at_the_pack_form(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    response = pages.post("/ui/audit/tools/evidence-pack", {"certificate_no": "NO-SUCH-2"})
    page = page_of(response)
    assert response.status_code == 422, page[:3000]
    assert 'id="pack-certificate_no-error"' in page and 'value="NO-SUCH-2"' in page


# -- /verify speaks the reader's language, from the catalog ---------------------------------------------------------


def _payload(pages: Pages, language: str) -> str:
    """A real certificate's QR payload, and a visitor who signed out and chose `language`."""
    render_certificate_document(pages.container, CERTIFICATE)
    pages.sign_in("xiamen.applicant")
    link = VERIFY_LINK.search(pages.text(f"/ui/certificates/{CERTIFICATE}"))
    assert link is not None
    pages.post("/ui/sign-out")
    if language == "en":
        pages.post("/ui/language", {"lang": "en"})
    payload = re.search(r"[?&]payload=([^&]+)", html.unescape(link.group(1)))
    assert payload is not None
    return payload.group(1)


def _verify(pages: Pages, payload: str, status: int) -> str:
    response = pages.client.get("/verify", query_string={"payload": payload}, headers=BROWSER)
    assert response.status_code == status, page_of(response)[:2000]
    return page_of(response)


def test_verify_reads_chinese_to_a_visitor_with_no_english_words_but_identifiers(pages: Pages) -> None:
    payload = _payload(pages, "zh")
    page = _verify(pages, payload, 200)
    assert "有效" in page and "审批单编号" in page and "当前状态" in page
    crawl = Crawl()
    crawl.check("/verify", page.replace(payload, "").replace("/.well-known/jwks.json", ""))  # data, not words
    assert not crawl.leaks, crawl.report()


def test_verify_reads_english_once_the_visitor_chose_it(pages: Pages) -> None:
    page = _verify(pages, _payload(pages, "en"), 200)
    assert "Valid certificate" in page and "Current state" in page and "审批单编号" not in page


def test_verify_names_a_failed_check_in_words_not_its_code(pages: Pages) -> None:
    payload = _payload(pages, "zh")
    head, signature = payload.rsplit(".", 1)
    forged = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    page = _verify(pages, forged, 422)
    assert "签名与审批单内容不符" in page and ">signature<" not in page
