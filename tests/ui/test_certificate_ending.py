"""C5–C7 on the certificate page: the forms a role may use, and a revocation for fraud that bars the holder (R26)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.ui.conftest import Pages
from workflow.store import api_reads
from workflow.store.tables import ApplicantBanRow, CertificateRow


def xiamen_certificate(pages: Pages) -> int:
    with pages.container.sessions() as session:
        found = session.scalar(select(CertificateRow.id).where(CertificateRow.district == "xiamen"))
    assert found is not None
    return int(found)


def test_the_decider_sees_the_ending_forms_and_the_reviewer_does_not(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.reviewer")
    assert 'id="end-certificate"' not in pages.text(f"/ui/certificates/{certificate_id}")
    assert pages.post(f"/ui/certificates/{certificate_id}/end/revoke", {"reason": "x"}).status_code == 403

    pages.sign_in("xiamen.decider")
    page = pages.text(f"/ui/certificates/{certificate_id}")

    assert 'data-action="revoke"' in page and 'data-action="cancel"' in page and 'name="fraud"' in page


def test_r26_a_revocation_for_fraud_from_the_page_is_audited_and_bars_the_holder(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.decider")

    response = pages.post(f"/ui/certificates/{certificate_id}/end/revoke", {"reason": "以欺骗手段取得", "fraud": "yes"})

    assert response.status_code == 303
    with pages.container.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApplicantBanRow)) == 1
        trail = api_reads.audit_trail(session, "certificate", certificate_id)
    revoke = next(event for event in trail if event["trigger"] == "revoke")
    assert "R26" in revoke["rule_ids"] and revoke["reason"] == "以欺骗手段取得"


def test_c6_a_revocation_without_a_reason_comes_back_to_its_form_and_changes_nothing(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.decider")

    response = pages.post(f"/ui/certificates/{certificate_id}/end/revoke", {"reason": " ", "fraud": "yes"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<form[^>]*data-action="revoke" id="refused"', page)
    assert 'name="fraud" value="yes" checked' in page
    with pages.container.sessions() as session:
        assert session.scalar(select(CertificateRow.state).where(CertificateRow.id == certificate_id)) == "active"
        assert session.scalar(select(func.count()).select_from(ApplicantBanRow)) == 0
