"""R43 / C7 on the pages: the holder's request form, the decider's field-level diff, refusals back at their fields."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.ui.conftest import Pages
from tests.ui.test_certificate_ending import xiamen_certificate
from workflow.store.tables import CertificateChangeRow, CertificateReplacementRow, CertificateRow


def _changes(pages: Pages, certificate_id: int) -> list[CertificateChangeRow]:
    with pages.container.sessions() as session:
        return list(
            session.scalars(select(CertificateChangeRow).where(CertificateChangeRow.certificate_id == certificate_id))
        )


def test_the_demo_certificate_shows_its_approved_amendment_and_the_holder_may_ask_again(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.applicant")
    page = pages.text(f"/ui/certificates/{certificate_id}")
    assert "厦门象屿报关行有限公司" in page and 'data-action="request-change"' in page
    assert "变更" in page and ">amendment<" not in page  # words, never the code


def test_r43_an_amendment_from_the_form_is_decided_on_a_field_level_diff(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.applicant")
    form = pages.text(f"/ui/certificates/{certificate_id}/changes/new")
    assert 'name="contact_person"' in form and 'name="ports"' in form
    posted = {"kind": "amendment", "contact_person": "赵六", "phone": "0592-1234567", "agent": "厦门象屿报关行有限公司",
              "ports": "厦门高崎机场", "reason": "联系人离职"}  # fmt: skip
    response = pages.post(f"/ui/certificates/{certificate_id}/changes/new", posted)
    assert response.status_code == 303
    change = next(row for row in _changes(pages, certificate_id) if row.state == "requested")
    assert {item["field"] for item in change.changes} == {"contact_person", "phone"}

    pages.sign_in("xiamen.decider")
    assert f"/ui/certificate-changes/{change.id}" in pages.text("/ui/certificate-changes")
    diff = pages.text(f"/ui/certificate-changes/{change.id}")
    assert re.search(r'data-field="contact_person".*?<ins>赵六</ins>', diff, re.S)
    assert 'data-field="agent"' not in diff  # unchanged fields are not re-decided
    with pages.container.sessions() as session:
        valid_until = session.scalar(select(CertificateRow.valid_until).where(CertificateRow.id == certificate_id))
    assert pages.post(f"/ui/certificate-changes/{change.id}/decision", {"decision": "approve"}).status_code == 303
    assert "赵六" in pages.text(f"/ui/certificates/{certificate_id}")
    with pages.container.sessions() as session:
        row = session.get(CertificateRow, certificate_id)
        assert row is not None and (row.valid_until, row.state) == (valid_until, "active")


def test_r43_a_bad_phone_comes_back_at_its_field_with_the_input_kept(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.applicant")
    posted = {"kind": "amendment", "contact_person": "赵六", "phone": "not a phone", "agent": "", "ports": ""}
    response = pages.post(f"/ui/certificates/{certificate_id}/changes/new", posted)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="change-phone-error"', page) and 'value="赵六"' in page
    assert all(row.state != "requested" for row in _changes(pages, certificate_id))  # nothing was filed


def test_c7_a_refusal_without_a_reason_comes_back_to_the_decision_form(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.applicant")
    posted = {"kind": "cancellation", "reason": "项目结束"}
    assert pages.post(f"/ui/certificates/{certificate_id}/changes/new", posted).status_code == 303
    change = next(row for row in _changes(pages, certificate_id) if row.state == "requested")
    pages.sign_in("xiamen.reviewer")
    assert pages.post(f"/ui/certificate-changes/{change.id}/decision", {"decision": "approve"}).status_code == 403

    pages.sign_in("xiamen.decider")
    response = pages.post(f"/ui/certificate-changes/{change.id}/decision", {"decision": "refuse", "reason": " "})
    assert response.status_code == 422 and 'id="refused"' in response.get_data(as_text=True)

    assert pages.post(f"/ui/certificate-changes/{change.id}/decision", {"decision": "approve"}).status_code == 303
    with pages.container.sessions() as session:
        assert session.scalar(select(CertificateRow.state).where(CertificateRow.id == certificate_id)) == "cancelled"


def test_r43_the_demo_replacement_is_linked_both_ways_and_its_file_shows_the_diff(pages: Pages) -> None:
    with pages.container.sessions() as session:
        old, new = session.execute(
            select(CertificateReplacementRow.old_certificate_id, CertificateReplacementRow.new_certificate_id)
        ).one()
        application_id = session.scalar(select(CertificateRow.application_id).where(CertificateRow.id == new))
    pages.sign_in("fuzhou.decider")
    assert f"/ui/certificates/{new}" in pages.text(f"/ui/certificates/{old}")  # 已被以下审批单替换
    assert f"/ui/certificates/{old}" in pages.text(f"/ui/certificates/{new}")
    page = pages.text(f"/ui/applications/{application_id}")
    assert re.search(r'data-line="1" data-field="quantity".*?<del>\d', page, re.S)
    assert ">quantity<" not in page  # the field in words, never the code


def test_r43_the_holder_applies_for_a_replacement_from_the_certificate_page(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.applicant")
    assert 'data-action="replace"' in pages.text(f"/ui/certificates/{certificate_id}")

    response = pages.post(f"/ui/certificates/{certificate_id}/replacement")

    assert response.status_code == 303 and "/edit" in response.headers["Location"]
    page = pages.text(f"/ui/certificates/{certificate_id}")
    assert 'data-action="replace"' not in page  # one replacement at a time
    with pages.container.sessions() as session:
        state = session.scalar(select(CertificateRow.state).where(CertificateRow.id == certificate_id))
    assert state == "active"  # nothing changes until a replacement is granted


def test_r43_a_second_replacement_is_refused_back_on_the_certificate_page(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.applicant")
    assert pages.post(f"/ui/certificates/{certificate_id}/replacement").status_code == 303

    again = pages.post(f"/ui/certificates/{certificate_id}/replacement")

    page = again.get_data(as_text=True)
    assert again.status_code == 422 and 'role="alert"' in page and "R43" in page
