"""Uploaded documents keep their original names, Chinese included, and come back under them (RFC 5987/6266)."""

from __future__ import annotations

from io import BytesIO
from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.ui.conftest import Pages
from tests.ui.test_applicant_pages import PDF, _create
from web.uploads import attachment, safe_name
from workflow.store.tables import DocumentRow

CHINESE = "申请表-中文名.pdf"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (CHINESE, CHINESE),
        ("../../申请表.pdf", "申请表.pdf"),
        ("C:\\Users\\张三\\许可证 扫描件.PDF", "许可证 扫描件.pdf"),
        (".hidden", "hidden.pdf"),
        ("a\x00b\u202ec.pdf", "abc.pdf"),  # control and bidi-override characters dropped
        ('名;"称%.pdf', "名称.pdf"),  # the header's own delimiters dropped
        ("-.pdf", "document.pdf"),
        ("", "document.pdf"),
    ],
)
def test_the_original_name_is_kept_without_any_path(sent: str, kept: str) -> None:
    assert safe_name(sent, "application/pdf") == kept


def test_a_long_name_is_cut_to_fit_its_column() -> None:
    assert safe_name("表" * 300 + ".pdf", "application/pdf") == "表" * 120 + ".pdf"


def test_the_extension_is_the_one_the_bytes_call_for() -> None:
    assert safe_name("照片.exe", "image/png") == "照片.png"


def test_a_chinese_name_is_sent_as_utf8_with_an_ascii_fallback() -> None:
    header = attachment(CHINESE)
    assert header == f"attachment; filename=\"document.pdf\"; filename*=UTF-8''{quote(CHINESE, safe='')}"


def test_an_ascii_name_needs_no_extended_parameter() -> None:
    assert attachment("form.pdf") == 'attachment; filename="form.pdf"'
    assert attachment("Résumé.pdf") == "attachment; filename=\"Resume.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf"


def test_an_uploaded_chinese_name_is_stored_and_downloaded_under_that_name(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    application_id = _create(pages)
    response = pages.post(
        f"/ui/applications/{application_id}/documents",
        {"doc_type": "application_form", "file": (BytesIO(PDF), CHINESE)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with pages.container.sessions() as session:
        document = session.scalars(select(DocumentRow).where(DocumentRow.application_id == application_id)).one()
    assert document.filename == CHINESE
    assert CHINESE in pages.text(f"/ui/applications/{application_id}")
    download = pages.client.get(f"/ui/documents/{document.id}")
    assert download.status_code == 200 and download.data == PDF
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="document.pdf"')
    assert f"filename*=UTF-8''{quote(CHINESE, safe='')}" in disposition
