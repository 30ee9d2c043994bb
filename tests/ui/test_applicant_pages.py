"""The applicant's pages: the guided form, uploads with the API's checks, submit, withdraw, pre-check, profile."""

from __future__ import annotations

import re
from io import BytesIO

from sqlalchemy import func, select

from tests.ui.conftest import Pages
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.store.tables import ApplicationRow, DocumentRow

PDF = b"%PDF-1.4\n% test\n%%EOF\n"
LINE = {
    "line_count": "1",
    "line-0-name_zh": "重组人IL-6",
    "line-0-quantity": "100",
    "line-0-unit": "支",
    "line-0-category": "biological_product",
    "line-0-protein_purity": "purified",
    "line-0-user_lab": "P2",
}


def _count(pages: Pages) -> int:
    with pages.container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ApplicationRow)) or 0)


def _create(pages: Pages, **extra: str) -> int:
    response = pages.post(
        "/ui/applicant/applications/new", {"direction": "entry", "district": "xiamen", **LINE, **extra}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_the_guided_form_files_a_draft_of_the_applicants_own_enterprise(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    application_id = _create(pages)
    page = pages.text(f"/ui/applications/{application_id}")
    assert "草稿" in page and "重组人IL-6" in page
    assert re.search(r'class="state current[^"]*" data-state="draft"', page)  # the lifecycle, current state lit


def test_a_bad_quantity_is_shown_beside_its_field_and_nothing_is_written(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    before = _count(pages)
    response = pages.post(
        "/ui/applicant/applications/new", {"direction": "entry", "district": "xiamen", **LINE, "line-0-quantity": "-3"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="line-0-quantity-error"' in page and 'aria-invalid="true"' in page
    assert 'value="-3"' in page  # what was typed comes back for correcting
    assert _count(pages) == before


def test_junk_in_a_select_is_a_field_error_not_a_crash(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post(
        "/ui/applicant/applications/new",
        {"direction": "entry", "district": "xiamen", **LINE, "line-0-pathogen_class": "x", "line-0-category": "rock"},
    )
    assert response.status_code == 422
    assert "line-0-" in response.get_data(as_text=True)
    assert (
        pages.post(
            "/ui/applicant/applications/new", {"direction": "sideways", "district": "xiamen", **LINE}
        ).status_code
        == 422
    )


def test_adding_a_line_without_script_returns_the_form_one_line_longer(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post(
        "/ui/applicant/applications/new", {"direction": "entry", "district": "xiamen", **LINE, "add_line": "1"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="line-1-name_zh"' in page and 'value="重组人IL-6"' in page
    fragment = pages.text("/ui/applicant/lines/1")
    assert 'name="line-1-name_zh"' in fragment and 'hx-swap-oob="true"' in fragment


def _upload(pages: Pages, application_id: int, content: bytes, name: str, doc_type: str = "application_form"):
    return pages.post(
        f"/ui/applications/{application_id}/documents",
        {"doc_type": doc_type, "file": (BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_uploads_are_typed_by_their_bytes_and_stored_with_their_hash(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    application_id = _create(pages)
    assert _upload(pages, application_id, PDF, "../../form.pdf").status_code == 303
    refused = _upload(pages, application_id, b"MZ\x90\x00 not a pdf", "form.pdf")
    assert refused.status_code == 422 and 'id="file-error"' in refused.get_data(as_text=True)  # back at the form
    with pages.container.sessions() as session:
        documents = session.scalars(select(DocumentRow).where(DocumentRow.application_id == application_id)).all()
    assert [(d.filename, d.content_type, len(d.sha256)) for d in documents] == [("form.pdf", "application/pdf", 64)]


def test_submitting_without_the_required_documents_is_refused_with_the_rule(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    application_id = _create(pages)
    response = pages.post(f"/ui/applications/{application_id}/act/submit")
    assert response.status_code in (400, 422)
    assert "A1" in response.get_data(as_text=True) or "R1" in response.get_data(as_text=True)
    assert "草稿" in pages.text(f"/ui/applications/{application_id}")


def test_a_complete_draft_is_submitted_screened_and_can_be_withdrawn(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    application_id = _create(pages)
    for doc_type in ("application_form", "goods_description", "business_licence", "entity_basic_information",
                     "biosafety_system_documents"):  # fmt: skip
        _upload(pages, application_id, PDF, f"{doc_type}.pdf", doc_type)
    assert pages.post(f"/ui/applications/{application_id}/act/submit").status_code == 303
    pages.container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))  # the worker's step, run inline
    page = pages.text(f"/ui/applications/{application_id}")
    assert 'id="screening"' in page and "R30" in page  # the grade's rule, with its reason
    assert pages.post(f"/ui/applications/{application_id}/act/withdraw", {"reason": "改期"}).status_code == 303
    page = pages.text(f"/ui/applications/{application_id}")
    assert "已撤回" in page and "改期" in page  # the timeline keeps the reason


def test_an_action_of_another_role_is_refused_by_the_engine(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post("/ui/applications/2/act/accept")
    assert response.status_code == 403
    assert pages.post("/ui/applications/2/act/teleport").status_code == 404


def test_the_precheck_explains_each_answer_with_its_rules(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post("/ui/applicant/precheck", {"direction": "entry", "district": "xiamen", **LINE})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="precheck-result"' in page
    assert "R30" in page and "R12" in page  # grade C for a purified protein; the documents it needs


def test_the_profile_checks_a_unified_social_credit_code_with_its_check_digit(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/applicant/enterprise")
    assert "厦门海沧生物科技有限公司" in page and "高级认证" in page
    good = pages.post("/ui/applicant/enterprise", {"uscc": "91350100M000100Y43"})
    assert good.status_code == 200 and 'id="uscc-valid"' in good.get_data(as_text=True)
    bad = pages.post("/ui/applicant/enterprise", {"uscc": "91350100M000100Y44"})
    assert bad.status_code == 422 and 'id="uscc-error"' in bad.get_data(as_text=True)


def test_certificates_show_the_remaining_quantity_per_line(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/applicant/certificates")
    assert re.search(r'class="num"><strong>100</strong>', page)


def test_a_previous_application_is_copied_into_a_new_draft(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    before = _count(pages)
    response = pages.post("/ui/applications/1/copy")
    assert response.status_code == 303 and _count(pages) == before + 1
    page = pages.text(response.headers["Location"])
    assert "草稿" in page and "重组人白细胞介素-6" in page
    pages.post("/ui/sign-out")
    pages.sign_in("fuzhou.applicant")
    assert pages.post("/ui/applications/1/copy").status_code == 404


def test_the_form_names_the_ports_of_entry_and_too_many_is_an_error_beside_the_field(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    application_id = _create(pages, ports="厦门高崎机场，厦门港; 厦门港")
    page = pages.text(f"/ui/applications/{application_id}")
    assert "进出境口岸" in page and "厦门高崎机场、厦门港" in page
    before = _count(pages)
    response = pages.post(
        "/ui/applicant/applications/new",
        {"direction": "entry", "district": "xiamen", **LINE, "ports": ",".join(f"p{n}" for n in range(11))},
    )
    assert response.status_code == 422 and 'id="ports-error"' in response.get_data(as_text=True)
    assert _count(pages) == before
