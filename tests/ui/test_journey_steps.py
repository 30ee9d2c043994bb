"""The journeys' missing steps (issue 16, item 6): each person can take the next step of their file from its page.

One test per step: edit a draft or a corrected file (a), the reviewer's opinion for the decider (b), every expert's
opinion shown to those who decide (c), claims released when a file moves to another post (d), the queue opening on
open work (e), the goods' identity for reviewers and experts (f), submit offered only with the documents (g) and the
applicant's declarations (h). Service-level checks of the same rules live in tests/integration/test_journey_rules.py.
"""

from __future__ import annotations

import re
from io import BytesIO

from sqlalchemy import select

from tests.ui.conftest import Pages
from tests.ui.test_applicant_pages import LINE, PDF
from workflow.store.tables import ApplicationLineRow, ApplicationRow, AuditEventRow, DocumentRow


def _row(pages: Pages, application_id: int) -> ApplicationRow:
    with pages.container.sessions() as session:
        row = session.get(ApplicationRow, application_id)
        assert row is not None
        session.expunge(row)
        return row


def _events(pages: Pages, application_id: int, trigger: str) -> list[AuditEventRow]:
    with pages.container.sessions() as session:
        query = select(AuditEventRow).where(
            AuditEventRow.object_type == "application",
            AuditEventRow.object_id == application_id,
            AuditEventRow.trigger == trigger,
        )
        rows = list(session.scalars(query.order_by(AuditEventRow.id)))
        session.expunge_all()
        return rows


def _as(pages: Pages, username: str) -> None:
    pages.post("/ui/sign-out")
    pages.sign_in(username)


def _upload(pages: Pages, application_id: int, doc_type: str) -> None:
    response = pages.post(
        f"/ui/applications/{application_id}/documents",
        {"doc_type": doc_type, "file": (BytesIO(PDF), f"{doc_type}.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]


def _chips(page: str) -> list[str]:
    chips = page.split('id="documents"')[1].split('id="actions"')[0]
    return re.findall(r'<span class="state s-(?:granted|correction_requested)" data-doc="([a-z_]+)">', chips)


# -- a. edit a draft, and the goods and documents of a corrected file -----------------------------------------------


def test_a_the_applicant_edits_a_draft_and_a_corrected_file_but_not_one_with_customs(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    assert 'id="edit-goods"' in pages.text("/ui/applications/5")
    form = pages.text("/ui/applicant/applications/5/edit")
    version = re.search(r'name="version" value="(\d+)"', form)
    assert version and 'value="HEK293细胞系"' in form and 'value="ATCC"' in form  # the stored line, to change
    edited = {**LINE, "line-0-quantity": "7", "line-0-manufacturer": "Sino Biological", "direction": "entry"}
    response = pages.post("/ui/applicant/applications/5/edit", {**edited, "district": "xiamen", "version": version[1]})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    with pages.container.sessions() as session:
        line = session.scalars(select(ApplicationLineRow).where(ApplicationLineRow.application_id == 5)).one()
        assert line.facts["manufacturer"] == "Sino Biological" and line.facts["quantity"] == "7"
    assert len(_events(pages, 5, "revise")) == 1  # audited through the bus (R13)
    stale = pages.post("/ui/applicant/applications/5/edit", {**edited, "district": "xiamen", "version": version[1]})
    assert stale.status_code in (409, 422) and "Sino Biological" in stale.get_data(as_text=True)  # input kept
    bad = pages.post("/ui/applicant/applications/5/edit", {**edited, "district": "xiamen", "line-0-quantity": "x"})
    assert bad.status_code == 422 and 'id="line-0-quantity-error"' in bad.get_data(as_text=True)

    assert 'id="edit-goods"' not in pages.text("/ui/applications/2")  # submitted: with customs now
    assert pages.client.get("/ui/applicant/applications/2/edit").status_code == 409

    _as(pages, "quanzhou.applicant")  # application 8 was sent back for correction
    assert 'id="edit-goods"' in pages.text("/ui/applications/8")
    form = pages.text("/ui/applicant/applications/8/edit")
    version = re.search(r'name="version" value="(\d+)"', form)
    assert version
    corrected = {**LINE, "line-0-specification": "10 µg", "direction": "entry", "district": "quanzhou"}
    assert pages.post("/ui/applicant/applications/8/edit", {**corrected, "version": version[1]}).status_code == 303
    _upload(pages, 8, "other")  # documents are added while the applicant holds the file
    with pages.container.sessions() as session:
        types = session.scalars(select(DocumentRow.doc_type).where(DocumentRow.application_id == 8)).all()
    assert "other" in types and _row(pages, 8).state == "correction_requested"


def test_a_a_wrong_document_is_taken_back_and_resubmission_waits_for_the_list_again(pages: Pages) -> None:
    pages.sign_in("quanzhou.applicant")  # application 8 was sent back for correction
    page = pages.text("/ui/applications/8")
    required = _chips(page)
    with pages.container.sessions() as session:
        document = session.scalars(
            select(DocumentRow).where(DocumentRow.application_id == 8, DocumentRow.doc_type == required[0])
        ).first()
    assert document is not None and f'data-action="remove-{document.id}"' in page
    assert pages.post(f"/ui/applications/8/documents/{document.id}/remove").status_code == 303
    [event] = _events(pages, 8, "remove_document")
    assert event.inputs["document_id"] == document.id and event.inputs["filename"] == document.filename
    with pages.container.sessions() as session:
        kept = session.get(DocumentRow, document.id)
        assert kept is not None and kept.removed_at is not None  # kept for the record, no longer attached
    page = pages.text("/ui/applications/8")
    assert f'data-action="remove-{document.id}"' not in page
    again = pages.post(f"/ui/applications/8/documents/{document.id}/remove")
    assert again.status_code == 404 and len(_events(pages, 8, "remove_document")) == 1
    refused = pages.post("/ui/applications/8/act/resubmit")
    assert refused.status_code in (409, 422) and _row(pages, 8).state == "correction_requested"
    _upload(pages, 8, required[0])
    assert pages.post("/ui/applications/8/act/resubmit").status_code == 303
    assert _row(pages, 8).state == "submitted"
    with pages.container.sessions() as session:
        left = session.scalars(select(DocumentRow.id).where(DocumentRow.application_id == 8)).first()
    assert left is not None
    taken = pages.post(f"/ui/applications/8/documents/{left}/remove")  # with customs now: not the applicant's to change
    assert taken.status_code == 409 and len(_events(pages, 8, "remove_document")) == 1


def test_a_another_enterprise_cannot_open_the_edit_form(pages: Pages) -> None:
    pages.sign_in("fuzhou.applicant")
    assert pages.client.get("/ui/applicant/applications/5/edit").status_code == 404


# -- b. the reviewer's opinion, kept, audited and shown to the decider ----------------------------------------------


def test_b_the_reviewer_records_an_opinion_that_the_decider_reads(pages: Pages) -> None:
    pages.sign_in("fuzhou.reviewer")  # application 7 is under review by this reviewer
    page = pages.text("/ui/applications/7")
    assert 'data-action="review_opinion"' in page
    empty = pages.post("/ui/applications/7/act/review_opinion", {"recommendation": "deny", "reason": "  "})
    assert empty.status_code == 422 and 'id="refused"' in empty.get_data(as_text=True)
    junk = pages.post("/ui/applications/7/act/review_opinion", {"recommendation": "maybe", "reason": "x"})
    assert junk.status_code == 422 and not _events(pages, 7, "review_opinion")
    posted = {"recommendation": "deny", "reason": "用途说明与实验室等级不符"}
    assert pages.post("/ui/applications/7/act/review_opinion", posted).status_code == 303
    [event] = _events(pages, 7, "review_opinion")
    assert event.inputs == {"recommendation": "deny"} and event.reason == "用途说明与实验室等级不符"
    assert event.actor_role == "reviewer" and _row(pages, 7).state == "under_review"

    _as(pages, "fuzhou.decider")
    page = pages.text("/ui/applications/7")
    opinion = re.search(r'id="review-opinion">(.*?)</section>', page, re.S)
    assert opinion and "用途说明与实验室等级不符" in opinion.group(1) and "不予许可" in opinion.group(1)
    assert pages.post("/ui/applications/7/act/review_opinion", posted).status_code == 403  # the reviewer's post

    _as(pages, "fuzhou.applicant")
    assert "用途说明与实验室等级不符" not in pages.text("/ui/applications/7")  # customs' working papers


# -- c. every expert's opinion and reason, for those who decide -----------------------------------------------------


def test_c_the_decider_sees_each_experts_opinion_and_reason(pages: Pages) -> None:
    pages.sign_in("xiamen.expert")  # application 3 is with a panel of five; one answers
    answer = {"opinion": "correct", "reason": "缺少菌株来源证明"}
    assert pages.post("/ui/expert/assessments/1/opinion", answer).status_code == 303
    assert 'id="panel-opinions"' not in pages.text("/ui/applications/3")  # experts answer independently

    _as(pages, "xiamen.decider")
    panel = re.search(r'id="panel-opinions">(.*?)</table>', pages.text("/ui/applications/3"), re.S)
    assert panel
    seat = r'<tr><td>1</td><td translate="no">([^<]+)</td><td>(.*?)</td><td translate="no">(.*?)</td>'
    rows = re.findall(seat, panel.group(1))
    by_expert = {name: (opinion, reason) for name, opinion, reason in rows}
    assert len(by_expert) == 5
    assert by_expert["xiamen.expert"] == ("补正材料", "缺少菌株来源证明")
    assert by_expert["xiamen.expert2"] == ("待提交", "—")

    _as(pages, "xiamen.applicant")
    assert "缺少菌株来源证明" not in pages.text("/ui/applications/3").split('id="correction-notice"')[0]


# -- d. a claim ends when the file moves to another post's step ------------------------------------------------------


def test_d_a_claim_is_released_when_the_file_moves_on_so_the_next_post_can_claim_it(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    assert pages.post("/ui/applications/2/act/claim").status_code == 303
    assert _row(pages, 2).claimed_by is not None
    assert pages.post("/ui/applications/2/act/accept").status_code == 303
    row = _row(pages, 2)
    assert row.state == "accepted" and row.claimed_by is None and row.claimed_at is None
    [release] = _events(pages, 2, "release_claim")
    [accept] = _events(pages, 2, "accept")
    assert release.inputs["to"] is None and release.id > accept.id and release.to_state == "accepted"

    _as(pages, "xiamen.reviewer")
    assert pages.post("/ui/applications/2/act/claim").status_code == 303  # free for the review
    assert pages.post("/ui/applications/2/act/start_review").status_code == 303
    assert _row(pages, 2).claimed_by is not None  # the same post's next step: the reviewer keeps the file
    opinion = {"recommendation": "grant", "reason": "齐全"}
    assert pages.post("/ui/applications/2/act/review_opinion", opinion).status_code == 303
    assert _row(pages, 2).claimed_by is None  # the review step is done: the decider's turn

    _as(pages, "xiamen.decider")
    assert pages.post("/ui/applications/2/act/claim").status_code == 303


# -- e. the queue opens on the work the officer can do now -----------------------------------------------------------


def _queue_ids(page: str) -> set[str]:
    return set(re.findall(r'/ui/applications/(\d+)"', page))


def test_e_the_queue_opens_on_open_work_and_every_state_is_one_choice_away(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    assert _queue_ids(pages.text("/ui/review/queue")) == {"2", "4"}  # submitted: the acceptor's step
    everything = _queue_ids(pages.text("/ui/review/queue?state=all"))
    assert {"1", "2", "3", "4", "6"} <= everything and "5" not in everything  # never a draft
    _as(pages, "xiamen.head")
    assert pages.post("/ui/applications/2/act/claim").status_code == 303
    _as(pages, "xiamen.acceptor")
    assert _queue_ids(pages.text("/ui/review/queue")) == {"4"}  # a colleague works 2
    assert _queue_ids(pages.text("/ui/review/queue?state=submitted")) == {"2", "4"}
    _as(pages, "xiamen.reviewer")
    assert _queue_ids(pages.text("/ui/review/queue")) == {"10"}  # the demo's lab mismatch (R62) under review


# -- f. the goods' identity for reviewers and experts ----------------------------------------------------------------


def test_f_reviewers_and_experts_see_what_the_goods_are_and_where_they_go(pages: Pages) -> None:
    for username in ("xiamen.reviewer", "xiamen.expert"):
        _as(pages, username)
        goods = re.search(r'id="goods">(.*?)</table>', pages.text("/ui/applications/3"), re.S)
        assert goods, username
        cells = re.findall(r"<td[^>]*>(.*?)</td>", goods.group(1))
        for fact in ("ATCC", "US", "检测方法研究", "BSL-2"):
            assert fact in cells, (username, fact)
        assert "P2 实验室 · 厦门 P2 实验室 (BSL-2)" in cells  # as typed, and the registered lab it names (R62)
        assert '<span translate="no">3</span>' in cells  # pathogen class 3


# -- g. submit only with the documents the chips list, and the service refuses otherwise ----------------------------


def test_g_submit_is_offered_once_the_chips_are_all_attached(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post("/ui/applicant/applications/new", {"direction": "entry", "district": "xiamen", **LINE})
    application_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = pages.text(f"/ui/applications/{application_id}")
    required = _chips(page)
    assert len(required) >= 2 and 'data-action="submit"' not in page and 'id="submit-waits"' in page
    for doc_type in required[:-1]:
        _upload(pages, application_id, doc_type)
    page = pages.text(f"/ui/applications/{application_id}")
    waits = page.split('id="submit-waits"')[1].split("</p>")[0]
    assert 'data-action="submit"' not in page and re.findall(r'data-doc="([a-z_]+)"', waits) == [required[-1]]
    refused = pages.post(f"/ui/applications/{application_id}/act/submit")
    assert refused.status_code in (409, 422) and _row(pages, application_id).state == "draft"
    _upload(pages, application_id, required[-1])
    page = pages.text(f"/ui/applications/{application_id}")
    assert 'data-action="submit"' in page and 'id="submit-waits"' not in page
    assert pages.post(f"/ui/applications/{application_id}/act/submit").status_code == 303
    assert _row(pages, application_id).state == "submitted"


# -- h. the applicant's declarations ----------------------------------------------------------------------------------


def test_h_the_applicant_lists_its_declarations_with_state_certificate_and_lines(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    assert "暂无报关单" in pages.text("/ui/applicant/declarations")
    _as(pages, "xiamen.port_officer")
    declared = pages.post(
        "/ui/port/certificates/1/declare",
        {"declaration_no": "DEC-STEPS-1", "line_no": "1", "qty": "30", "port": "厦门高崎机场", "idempotency_key": "s1"},
    )
    assert declared.status_code == 303
    declaration_id = declared.headers["Location"].rsplit("/", 1)[1]

    _as(pages, "xiamen.applicant")
    page = pages.text("/ui/applicant/declarations")
    assert "/ui/applicant/declarations" in page.split("</nav>")[0]  # in the applicant's nav
    row = re.search(rf'data-declaration="{declaration_id}">(.*?)</tr>', page, re.S)
    assert row, page[:3000]
    assert "DEC-STEPS-1" in row.group(1) and f"/ui/declarations/{declaration_id}" in row.group(1)
    assert "XI2016I000001" in row.group(1) and "/ui/certificates/1" in row.group(1)
    assert re.search(r'class="state s-[a-z_]+"', row.group(1)) and "申报 30" in row.group(1)

    _as(pages, "fuzhou.applicant")
    assert "DEC-STEPS-1" not in pages.text("/ui/applicant/declarations")  # its own enterprise's only
