"""No dead ends (#16): every refused form comes back as its form, the input kept and the message at the field.

One case per form of every desk, each refused by the engine (a rule, a state, a race) and not only by the form's own
checks: the status says what kind of refusal it was (422 a rule or bad input, 409 a state that changed), the page
holds the form marked as refused with the message, and what was typed is still in it. Then a sweep posts hostile
values to every form route as every role, and /verify answers people with a page and programs with JSON.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tests.ui.conftest import CSRF, Pages
from tests.ui.test_applicant_pages import LINE
from web.ui import PAGES
from workflow.store.tables import AuditEventRow, DeclarationRow, DocumentRow, LedgerEntryRow, ReversalRow

REFUSED = re.compile(r'<(form|section|div)\b[^>]*id="refused"[^>]*>(.*?)</\1>', re.S)
DRAFT, SUBMITTED, ASSESSED = 5, 2, 3  # the demo's hek293 draft, cytokine file waiting, E. coli in risk assessment
CERTIFICATE = 1  # the demo's granted cytokine, xiamen


def page_of(response: Any) -> str:
    return str(response.get_data(as_text=True))


def refused(response: Any, status: int) -> str:
    """The refused form (or the refusal's place when its form is gone), after checking the status."""
    page = page_of(response)
    assert response.status_code == status, page[:3000]
    found = REFUSED.search(page)
    assert found, "the page shows no refused form: " + page[:3000]
    return found.group(0)


def at_field(part: str, field_id: str) -> None:
    """The message is at the field: the field is marked invalid and described by the message below it."""
    assert f'aria-describedby="{field_id}-error"' in part and f'id="{field_id}-error"' in part, part


def count(pages: Pages, table: Any) -> int:
    with pages.container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def declared(pages: Pages, number: str, qty: str = "1", key: str | None = None) -> Any:
    body = {"declaration_no": number, "line_no": "1", "qty": qty, "idempotency_key": key or number}
    return pages.post(f"/ui/port/certificates/{CERTIFICATE}/declare", body)


# -- applicant ------------------------------------------------------------------------------------------------------


def test_applicant_submit_refused_for_missing_documents_returns_to_the_page_with_the_rule(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    draft = pages.post("/ui/applicant/applications/new", {"direction": "entry", "district": "xiamen", **LINE})
    application_id = int(draft.headers["Location"].rsplit("/", 1)[1])

    response = pages.post(f"/ui/applications/{application_id}/act/submit")

    form = refused(response, 422)  # the submit button is gone while documents are missing: the message is atop
    assert 'role="alert"' in form and "R12" in form


def test_an_upload_of_the_wrong_type_comes_back_to_the_upload_form_with_the_type_chosen(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    before = count(pages, DocumentRow)
    upload = {"doc_type": "other", "file": (BytesIO(b"#!/bin/sh\necho hi\n"), "script.sh")}

    response = pages.post(f"/ui/applications/{DRAFT}/documents", upload, content_type="multipart/form-data")

    form = refused(response, 422)
    at_field(form, "file")
    assert re.search(r'<option[^>]*selected[^>]*value="other"|<option[^>]*value="other"[^>]*selected', form), form
    assert count(pages, DocumentRow) == before


def test_an_upload_over_the_size_limit_comes_back_to_the_upload_form(pages: Pages) -> None:
    pages.client.application.config["SPECGOODS_MAX_UPLOAD_BYTES"] = 64  # a small limit: the same check, no 10 MB body
    pages.sign_in("xiamen.applicant")
    upload = {"doc_type": "other", "file": (BytesIO(b"%PDF-1.4\n" + b"0" * 100), "big.pdf")}

    response = pages.post(f"/ui/applications/{DRAFT}/documents", upload, content_type="multipart/form-data")

    at_field(refused(response, 422), "file")


def test_the_new_application_form_keeps_everything_when_the_ports_are_refused(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post(
        "/ui/applicant/applications/new",
        {"direction": "entry", "district": "xiamen", **LINE, "ports": "厦门高崎机场," + "港" * 200},
    )
    page = page_of(response)
    assert response.status_code == 422 and 'id="ports-error"' in page
    assert f'value="{LINE["line-0-name_zh"]}"' in page


# -- acceptor and the queue ----------------------------------------------------------------------------------------


def test_acceptor_not_accept_without_a_reason_is_refused_at_the_reason(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    response = pages.post(f"/ui/applications/{SUBMITTED}/act/not_accept", {"reason": "   "})
    form = refused(response, 422)
    assert 'class="field invalid"' in form and 'class="error"' in form


def test_claiming_a_file_someone_else_works_is_refused_on_the_claim_form(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    assert pages.post(f"/ui/applications/{SUBMITTED}/act/claim").status_code == 303
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.reviewer")

    response = pages.post(f"/ui/applications/{SUBMITTED}/act/claim")

    form = refused(response, 409)
    assert 'role="alert"' in form and 'data-action="claim"' in form
    assert "当前状态下无法进行此操作" in form


def test_reassign_to_a_nonexistent_officer_keeps_the_reassign_form(pages: Pages) -> None:
    pages.sign_in("xiamen.head")
    response = pages.post(f"/ui/applications/{SUBMITTED}/act/reassign", {"user_id": "x"})
    assert response.status_code == 422 and 'role="alert"' in refused(response, 422)


# -- reviewer and decider -------------------------------------------------------------------------------------------


def test_reviewer_refer_twice_a_file_already_in_assessment_is_a_409_on_the_page(pages: Pages) -> None:
    pages.sign_in("xiamen.reviewer")
    response = pages.post(f"/ui/applications/{ASSESSED}/act/refer_assessment", {"reason": "再次评估"})
    form = refused(response, 409)
    assert 'role="alert"' in form


def test_decider_grant_refused_by_its_guard_keeps_the_reason_and_the_grade(pages: Pages) -> None:
    from tests.ui.test_refusals_return_to_the_form import plasma_under_review

    application_id = plasma_under_review(pages)
    pages.sign_in("xiamen.decider")

    response = pages.post(f"/ui/applications/{application_id}/act/grant", {"reason": "准予", "grade": "A"})

    form = refused(response, 422)
    assert "准予" in form and "R32" in form
    assert "该风险等级尚不满足许可条件" in form  # the rule in the reader's language, the engine's words as data
    assert re.search(r'<option value="A" selected>', form), form


# -- expert ---------------------------------------------------------------------------------------------------------


def _expert_on_the_panel(pages: Pages) -> tuple[str, int]:
    for name in ("xiamen.expert", *(f"xiamen.expert{n}" for n in range(2, 6))):
        pages.sign_in(name)
        found = re.search(r'action="/ui/expert/assessments/(\d+)/opinion"', pages.text("/ui/expert/"))
        if found:
            return name, int(found.group(1))
        pages.post("/ui/sign-out")
    raise AssertionError("no demo expert sits on an open panel")


def test_expert_opinion_without_reason_keeps_the_opinion_chosen(pages: Pages) -> None:
    _name, assessment_id = _expert_on_the_panel(pages)
    response = pages.post(f"/ui/expert/assessments/{assessment_id}/opinion", {"opinion": "reject", "reason": ""})
    form = refused(response, 422)
    assert '<option value="reject" selected>' in form
    assert 'class="error"' in form


def test_expert_opinion_given_twice_is_refused_on_the_desk(pages: Pages) -> None:
    _name, assessment_id = _expert_on_the_panel(pages)
    path = f"/ui/expert/assessments/{assessment_id}/opinion"
    assert pages.post(path, {"opinion": "pass", "reason": "材料齐全"}).status_code == 303

    response = pages.post(path, {"opinion": "reject", "reason": "改变主意"})

    assert response.status_code in (409, 422)
    assert 'role="alert"' in refused(response, response.status_code)


# -- port -----------------------------------------------------------------------------------------------------------


def test_a_declaration_number_filed_with_other_content_comes_back_to_the_declaring_form(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    assert declared(pages, "DEC-DEAD-1", "1").status_code == 303
    before = count(pages, DeclarationRow)

    response = declared(pages, "DEC-DEAD-1", "2", key="another-click")

    page = page_of(response)
    assert response.status_code == 409, page[:3000]
    assert 'data-refused="yes"' in page
    at_field(page, "declaration_no")
    assert 'value="DEC-DEAD-1"' in page and 'value="2"' in page and 'value="another-click"' in page
    assert count(pages, DeclarationRow) == before


def _commit_entry(pages: Pages) -> int:
    """A write-off of the demo's certificate: declared, and passed at inspection if the draw routed it there (D3)."""
    pages.sign_in("xiamen.port_officer")
    assert declared(pages, "DEC-DEAD-2", "1").status_code == 303
    with pages.container.sessions() as session:
        declaration_id, state = session.execute(
            select(DeclarationRow.id, DeclarationRow.state).where(DeclarationRow.declaration_no == "DEC-DEAD-2")
        ).one()
    if state == "inspection":
        body = {"outcome": "pass", "disposal": "", "reason": "合格"}
        passed = pages.post(f"/ui/port/declarations/{declaration_id}/inspection", body)
        assert passed.status_code == 303, refused(passed, passed.status_code)
    with pages.container.sessions() as session:
        entry = session.scalar(select(func.max(LedgerEntryRow.id)).where(LedgerEntryRow.kind == "commit"))
    assert entry is not None, f"declaration DEC-DEAD-2 was not written off ({state})"
    return int(entry)


def test_a_reversal_request_without_reason_keeps_the_quantity_at_its_write_off(pages: Pages) -> None:
    entry = _commit_entry(pages)
    response = pages.post(f"/ui/port/write-offs/{entry}/reversal", {"qty": "0.5", "reason_code": "clerical_error"})
    form = refused(response, 422)
    at_field(form, f"why-{entry}")
    assert 'value="0.5"' in form and '<option value="clerical_error" selected>' in form


def test_a_reversal_of_more_than_was_written_off_is_refused_at_its_form(pages: Pages) -> None:
    entry = _commit_entry(pages)
    before = count(pages, ReversalRow)
    body = {"qty": "999", "reason_code": "clerical_error", "reason": "录错数量"}

    response = pages.post(f"/ui/port/write-offs/{entry}/reversal", body)

    form = refused(response, 422)
    assert 'role="alert"' in form or 'class="error"' in form
    assert "录错数量" in form and 'value="999"' in form
    assert count(pages, ReversalRow) == before


def test_a_port_step_the_declaration_no_longer_allows_is_a_409_on_its_page(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    declared(pages, "DEC-DEAD-3", "1")
    with pages.container.sessions() as session:
        declaration_id = session.scalar(select(DeclarationRow.id).where(DeclarationRow.declaration_no == "DEC-DEAD-3"))

    response = pages.post(f"/ui/port/declarations/{declaration_id}/reject", {"reason": "货证不符"})

    assert 'role="alert"' in refused(response, 409)


def test_a_decided_reversal_decided_again_is_refused_on_the_reversals_page(pages: Pages) -> None:
    entry = _commit_entry(pages)
    assert (
        pages.post(
            f"/ui/port/write-offs/{entry}/reversal", {"qty": "1", "reason_code": "clerical_error", "reason": "录错"}
        ).status_code
        == 303
    )
    with pages.container.sessions() as session:
        reversal_id = session.scalar(select(func.max(ReversalRow.id)))
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.decider")
    first = pages.post(f"/ui/port/reversals/{reversal_id}", {"decision": "refuse", "reason": "不予回退"})
    assert first.status_code == 303

    response = pages.post(f"/ui/port/reversals/{reversal_id}", {"decision": "approve", "reason": "再议"})

    assert 'role="alert"' in refused(response, 409)


# -- enterprise -----------------------------------------------------------------------------------------------------


def test_enterprise_user_with_a_taken_name_is_refused_at_the_name_with_the_rest_kept(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    body = {"username": "xiamen.reviewer", "display_name": "新同事", "email": "new@example.com",
            "password": "a-long-enough-password"}  # fmt: skip
    response = pages.post("/ui/enterprise/users", body)
    page = page_of(response)
    assert response.status_code == 422, page[:3000]
    assert 'id="username-error"' in page and 'value="新同事"' in page and 'value="new@example.com"' in page


def test_enterprise_profile_saved_over_a_newer_version_keeps_the_edits(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    response = pages.post("/ui/enterprise/profile", {"name": "新名称有限公司", "version": "999"})
    page = page_of(response)
    assert response.status_code in (409, 422), page[:3000]
    assert 'id="name-error"' in page and 'value="新名称有限公司"' in page


# -- the sweep ------------------------------------------------------------------------------------------------------

ROLES = ("applicant", "acceptor", "reviewer", "decider", "head", "expert", "port_officer", "dest_officer", "auditor")
FIELDS = ("reason", "deficiencies", "qty", "line_no", "declaration_no", "port", "ports", "direction", "district",
          "opinion", "outcome", "disposal", "reason_code", "decision", "grade", "user_id", "uscc", "name", "phone",
          "username", "display_name", "email", "password", "version", "doc_type", "line_count", "line-0-name_zh",
          "line-0-quantity", "line-0-unit", "line-0-category", "line-0-pathogen_class", "line-0-bsl_level",
          "idempotency_key", "payload", "false_information", "fraud", "is_admin")  # fmt: skip
HOSTILE = ("1e400", "界" * 10_000, "-99999999999999999999999999", "NaN")


def hostile_bodies(token: str) -> list[MultiDict[str, str]]:
    """A NUL everywhere, then twice every field with one of the hostile values in turn, plus junk no form declares."""
    bodies = [MultiDict([("csrf_token", token), *((field, "\x00") for field in FIELDS)])]
    for shift in (0, 2):
        body = MultiDict([("csrf_token", token)])
        for index, field in enumerate(FIELDS):
            body.add(field, HOSTILE[(index + shift) % len(HOSTILE)])
        body.add("reason", "second value")  # a repeated field
        body.add("lines[0][name]", HOSTILE[shift])  # nested junk
        body.add("qty[]", HOSTILE[shift + 1])
        bodies.append(body)
    return bodies


def form_routes(pages: Pages) -> list[str]:
    """Every POST route of the pages, each id filled by 1 (the demo's first object of each kind), and each action."""
    app = pages.client.application
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()) or rule.endpoint.split(".")[0] not in PAGES:
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)
        if "<" not in path and not path.endswith("sign-in") and not path.endswith("sign-out"):
            paths.append(path)
    for action in ("submit", "withdraw", "accept", "not_accept", "grant", "deny", "claim", "reassign"):
        paths.append(f"/ui/applications/{SUBMITTED}/act/{action}")
    paths += [f"/ui/port/declarations/1/{step}" for step in ("split", "reject", "dispose", "withdraw", "follow-up")]
    paths += [f"/ui/enterprise/users/{action}" for action in ("deactivate", "make_admin")]
    return sorted(set(paths))


@pytest.mark.parametrize("role", ROLES)
def test_hostile_values_posted_to_every_form_route_are_never_a_500(pages: Pages, role: str) -> None:
    pages.sign_in(f"xiamen.{role}")
    found = CSRF.search(pages.client.get("/ui/sign-in").get_data(as_text=True))
    assert found
    token = found.group(1)
    routes = form_routes(pages)
    assert len(routes) >= 15
    failures = []
    for path in routes:
        for number, body in enumerate(hostile_bodies(token)):
            response = pages.client.post(path, data=body)
            if response.status_code >= 500:
                failures.append((path, number, response.status_code))
    assert not failures, failures
    assert count(pages, AuditEventRow) >= 0  # the database still answers after the sweep


# -- /verify ----------------------------------------------------------------------------------------------------------

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PROGRAM = {"Accept": "application/json"}
# The documented answers (docs/paperless.md): 400 for text that is no payload, 422 for a payload that fails its check.
BAD_PAYLOADS = {
    "garbage": "not a payload at all",
    "nul": "abc\x00.def",
    "long": "A" * 10_000 + "." + "B" * 10_000,
    "tampered": "eyJ2IjoxLCJjZXJ0aWZpY2F0ZV9ubyI6IlxcdTAwMDAiLCJsaW5lcyI6NX0.AAAA",  # v1, certificate_no NUL, lines 5
    "not-json": "bm90IGpzb24.AAAA",
}


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_verify_answers_a_browser_with_a_page_and_keeps_what_was_pasted(pages: Pages, name: str) -> None:
    payload = BAD_PAYLOADS[name]
    for response in (
        pages.client.get("/verify", query_string={"payload": payload}, headers=BROWSER),
        pages.client.post("/verify", data={"payload": payload, "online": "1"}, headers=BROWSER),
    ):
        page = page_of(response)
        assert response.status_code == (422 if name == "tampered" else 400), page[:2000]
        assert response.mimetype == "text/html" and "<textarea" in page
        if "\x00" not in payload:
            assert payload[:200] in page  # what was pasted is in the form to correct


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_verify_answers_a_program_with_json(pages: Pages, name: str) -> None:
    payload = BAD_PAYLOADS[name]
    for response in (
        pages.client.get("/verify", query_string={"payload": payload}, headers=PROGRAM),
        pages.client.post("/verify", data={"payload": payload, "online": "1"}, headers=PROGRAM),
    ):
        assert response.status_code == (422 if name == "tampered" else 400), response.get_data(as_text=True)[:2000]
        assert response.is_json and "<" not in response.get_data(as_text=True)[:1]


def test_verify_an_empty_post_is_the_form_with_the_field_marked(pages: Pages) -> None:
    response = pages.client.post("/verify", data={"payload": "   "}, headers=BROWSER)
    assert response.status_code == 400 and 'aria-invalid="true"' in page_of(response)


def test_verify_a_good_payload_is_a_page_for_a_browser_and_json_for_a_program(pages: Pages) -> None:
    import html

    from tasks.documents import render_certificate_document
    from tests.ui.test_certificate_pdf_page import VERIFY_LINK

    render_certificate_document(pages.container, CERTIFICATE)
    pages.sign_in("xiamen.applicant")
    link = VERIFY_LINK.search(pages.text(f"/ui/certificates/{CERTIFICATE}"))
    assert link is not None
    payload = re.search(r"[?&]payload=([^&]+)", html.unescape(link.group(1)))
    assert payload is not None
    token = payload.group(1)

    page = pages.client.get("/verify", query_string={"payload": token}, headers=BROWSER)
    assert page.status_code == 200 and page.mimetype == "text/html" and token in page_of(page)
    answer = pages.client.get("/verify", query_string={"payload": token}, headers=PROGRAM)
    assert answer.status_code == 200 and answer.is_json
    assert answer.json["valid"] is True and answer.json["status"]["state"] == "active"  # type: ignore[index]
    forged = pages.client.post("/verify", data={"payload": token[:-4] + "AAAA"}, headers=PROGRAM)
    assert forged.status_code == 422 and forged.json["valid"] is False  # type: ignore[index]
