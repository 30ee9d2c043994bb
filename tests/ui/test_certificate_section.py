"""The certificate page's changes part in one read says what the three reads it replaced said (R43, C7).

`certificate_changes.certificate_section` folds the requests, the particulars and the replacement links into one
statement; the page's HTML is compared elsewhere (before/after renders), this checks the data itself on every demo
certificate, then with an open request and with a replacement under way. Also: the page's PDF link, built from
the document row read with the certificate, is what `web/certificate_pdf.find` answers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tasks.documents import certificate_folder, render_certificate_document
from tests.ui.conftest import Pages
from tests.ui.test_certificate_ending import xiamen_certificate
from web import certificate_pdf as pdfs
from workflow.store import certificate_changes, certificate_documents, replacements
from workflow.store.tables import CertificateRow


def as_before(pages: Pages, certificate_id: int) -> dict[str, Any]:
    with pages.container.sessions() as session:
        return {
            "requests": certificate_changes.requests_of(session, certificate_id),
            "particulars": certificate_changes.particulars_of(session, certificate_id),
            **replacements.links_of_certificate(session, certificate_id),
        }


def in_one_read(pages: Pages, certificate_id: int) -> dict[str, Any]:
    with pages.container.sessions() as session:
        return certificate_changes.certificate_section(session, certificate_id)


def every_certificate(pages: Pages) -> list[int]:
    with pages.container.sessions() as session:
        return list(session.scalars(select(CertificateRow.id)))


def test_every_demo_certificate_reads_the_same_in_one_read(pages: Pages) -> None:
    ids = every_certificate(pages)
    assert ids
    for certificate_id in ids:
        assert in_one_read(pages, certificate_id) == as_before(pages, certificate_id), certificate_id


def test_the_demo_holds_an_amendment_and_a_replacement_both_ways(pages: Pages) -> None:
    """The cases the one read must get right are there: an approved amendment, a successor, a predecessor."""
    sections = [in_one_read(pages, certificate_id) for certificate_id in every_certificate(pages)]
    assert any(section["requests"] for section in sections)
    assert any(section["replaced_by"] for section in sections)
    assert any(section["replaces"] for section in sections)


def test_an_open_request_and_a_replacement_under_way_read_the_same(pages: Pages) -> None:
    certificate_id = xiamen_certificate(pages)
    pages.sign_in("xiamen.applicant")
    assert pages.post(f"/ui/certificates/{certificate_id}/replacement").status_code == 303
    form = {"kind": "cancellation", "reason": "No longer needed <b>&</b>"}
    assert pages.post(f"/ui/certificates/{certificate_id}/changes/new", form).status_code == 303

    section = in_one_read(pages, certificate_id)

    assert section["pending_application_id"] is not None
    assert any(request.state.value == "requested" for request in section["requests"])
    assert section == as_before(pages, certificate_id)


def test_the_pages_pdf_link_is_what_certificate_pdf_find_answers(pages: Pages) -> None:
    """The page builds its PDF link from the document row read with the certificate; the download asks `find`."""
    certificate_id = every_certificate(pages)[0]
    app = pages.client.application

    def both() -> tuple[Any, Any]:
        with app.test_request_context(f"/ui/certificates/{certificate_id}"):
            with pages.container.sessions() as session:
                read = certificate_documents.certificate_read(session, certificate_id)
                assert read is not None
                number = read.row.certificate_no
                from_the_page = pdfs.found_in(read.document, number)
            return from_the_page, pdfs.find(certificate_id, number)

    assert both() == (None, None)  # not rendered yet
    render_certificate_document(pages.container, certificate_id)
    page, found = both()
    assert page is not None and page == found  # same path, same signed token
    with pages.container.sessions() as session:
        number = certificate_documents.certificate_read(session, certificate_id).row.certificate_no  # type: ignore[union-attr]
    (certificate_folder(pages.container) / f"{number}.pdf").unlink()
    assert both() == (None, None)  # signed, but the file is gone: being prepared, on both doors
