"""The customs desk, the port desk and the expert desk, through their pages."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from tests.integration.support import declaration_no
from tests.ui.conftest import Pages
from workflow.store.tables import CertificateRow, LedgerEntryRow, ReversalRow


def test_the_queue_filters_by_state_and_pages_by_keyset(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    page = pages.text("/ui/review/queue?state=submitted")
    states = re.findall(r'<span class="state s-([a-z_]+)">', page)
    assert states and set(states) == {"submitted"}
    assert "quanzhou" not in page and "泉州" not in page  # an officer sees their own district only
    older = pages.text("/ui/review/queue?state=submitted&before=3")
    assert "XI" in page and re.findall(r'/ui/applications/(\d+)"', older) == ["2"]


def test_a_filter_nobody_matches_is_an_empty_queue_not_an_error(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    page = pages.text("/ui/review/queue?state=nonsense&grade=Z&paperless=maybe&urgency=soon&before=-4")
    assert "没有可显示的内容" in page


def test_htmx_filtering_answers_with_the_table_only(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    fragment = pages.client.get("/ui/review/queue?state=submitted", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and text.lstrip().startswith('<div id="queue">') and "<html" not in text


def test_a_correction_notice_lists_every_deficiency_once(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    response = pages.post("/ui/applications/2/act/request_correction", {"deficiencies": "缺少盖章页\n\n缺少英文名称\n"})
    assert response.status_code == 303
    again = pages.post("/ui/applications/2/act/request_correction", {"deficiencies": "再补一项"})
    assert again.status_code in (409, 422)  # R17: one notice per submission
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/applications/2")
    notice = re.search(r'id="correction-notice">(.*?)</section>', page, re.S)
    assert notice and re.findall(r"<li[^>]*>(.*?)</li>", notice.group(1)) == ["缺少盖章页", "缺少英文名称"]


def test_an_empty_correction_notice_is_refused(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    response = pages.post("/ui/applications/2/act/request_correction", {"deficiencies": "  \n "})
    assert response.status_code == 422 and "deficiencies" in response.get_data(as_text=True)


def test_separation_of_duties_is_shown_and_enforced(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    assert pages.post("/ui/applications/2/act/accept").status_code == 303
    page = pages.text("/ui/applications/2")
    assert 'id="separation-of-duties"' in page and "xiamen.acceptor" in page
    assert "您已在本申请中担任以下岗位" in page  # the acceptor sees they may not also review or decide
    assert 'data-action="start_review"' not in page  # not a reviewer: the action is not offered
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.decider")
    assert pages.post("/ui/applications/2/act/grant", {"reason": "x"}).status_code == 409  # not under review yet


def test_a_grant_with_an_unknown_grade_is_a_field_error(pages: Pages) -> None:
    pages.sign_in("fuzhou.decider")
    response = pages.post("/ui/applications/7/act/grant", {"reason": "ok", "grade": "Z"})
    assert response.status_code == 422 and "grade" in response.get_data(as_text=True)


def _entries(pages: Pages) -> int:
    with pages.container.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerEntryRow)) or 0)


def _declare(pages: Pages, number: str, qty: str, key: str = "k1"):
    return pages.post(
        "/ui/port/certificates/1/declare",
        {"declaration_no": number, "line_no": "1", "qty": qty, "port": "厦门高崎机场", "idempotency_key": key},
    )


def _release(pages: Pages, response) -> str:
    path = response.headers["Location"]
    page = pages.text(path)
    if 'data-action="inspection"' in page:
        declaration_id = path.rsplit("/", 1)[1]
        pages.post(f"/ui/port/declarations/{declaration_id}/inspection", {"outcome": "pass", "disposal": ""})
        page = pages.text(path)
    return page


def test_the_port_officer_looks_up_declares_and_writes_off(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    desk = pages.client.get("/ui/port/?number=XI2016I000001")
    assert desk.status_code == 303 and desk.headers["Location"].endswith("/ui/port/certificates/1")
    response = _declare(pages, "DEC-PORT-1", "30")
    assert response.status_code == 303
    page = _release(pages, response)
    assert 'id="routing"' in page and "E1" in page  # the routing result with its rule
    assert re.search(r'class="num remaining"><strong>70</strong>', page)
    live = pages.text("/ui/port/certificates/1/remaining")
    assert "<strong>70</strong>" in live and "<html" not in live


def test_a_resent_declaration_form_writes_off_once(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    first = _declare(pages, "DEC-PORT-2", "10", key="same")
    entries = _entries(pages)
    second = _declare(pages, "DEC-PORT-2", "10", key="same")
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    assert _entries(pages) == entries


def test_over_drawing_is_held_and_bad_quantities_are_field_errors(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    for bad in ("abc", "0"):  # the form again, input kept, reason at the field (see test_form_validation.py)
        refused = _declare(pages, "DEC-PORT-3", bad)
        assert refused.status_code == 422 and 'id="qty-error"' in refused.get_data(as_text=True)
    held = pages.text(_declare(pages, "DEC-PORT-4", "1000").headers["Location"])
    assert "口岸暂扣" in held  # W5: more than remains goes to a port officer, with no release
    assert pages.client.get("/ui/port/?number=NO-SUCH").status_code == 404


def test_a_reversal_is_requested_by_one_officer_and_approved_by_a_decider(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    _release(pages, _declare(pages, "DEC-PORT-5", "10"))
    with pages.container.sessions() as session:
        commit_id = session.scalar(select(LedgerEntryRow.id).where(LedgerEntryRow.kind == "commit"))
    response = pages.post(
        f"/ui/port/write-offs/{commit_id}/reversal", {"qty": "4", "reason_code": "clerical_error", "reason": "录错"}
    )
    assert response.status_code == 303
    assert "录错" in pages.text("/ui/port/reversals")
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.decider")
    with pages.container.sessions() as session:
        reversal_id = session.scalar(select(ReversalRow.id))
    assert pages.post(f"/ui/port/reversals/{reversal_id}", {"decision": "approve"}).status_code == 303
    assert "<strong>94</strong>" in pages.text("/ui/certificates/1")  # 100 − 10 + 4


def test_the_expert_desk_lists_the_panel_and_takes_an_opinion(pages: Pages) -> None:
    pages.sign_in("xiamen.expert")
    page = pages.text("/ui/expert/")
    found = re.search(r'action="/ui/expert/assessments/(\d+)/opinion"', page)
    assert found, "the demo's grade B application sits on the Xiamen panel"
    assert pages.post(f"/ui/expert/assessments/{found.group(1)}/opinion", {"opinion": "pass"}).status_code == 422
    response = pages.post(
        f"/ui/expert/assessments/{found.group(1)}/opinion", {"opinion": "pass", "reason": "生物安全措施充分"}
    )
    assert response.status_code == 303
    page = pages.text("/ui/expert/")
    assert "生物安全措施充分" in page and f'action="/ui/expert/assessments/{found.group(1)}/opinion"' not in page


def _holders(page: str) -> dict[str, str]:
    """Application id -> the holder cell of its queue row."""
    rows = re.findall(r'/ui/applications/(\d+)".*?<td translate="no">([^<]*)</td>\s*</tr>', page, re.S)
    return dict(rows)


def test_an_officer_claims_a_file_the_queue_shows_the_holder_and_the_head_reassigns_it(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    assert _holders(pages.text("/ui/review/queue?state=submitted"))["2"] == "—"
    assert pages.post("/ui/applications/2/act/claim").status_code == 303
    mine = pages.text("/ui/review/queue?holder=mine")
    assert list(_holders(mine)) == ["2"] and _holders(mine)["2"] != "—"
    assert "2" not in _holders(pages.text("/ui/review/queue?holder=unclaimed"))
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.reviewer")
    assert pages.post("/ui/applications/2/act/claim").status_code == 409  # someone works it already
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.head")
    page = pages.text("/ui/applications/2")
    assert 'data-action="reassign"' in page and "经办人" in page
    options = dict(re.findall(r'<option value="(\d+)" translate="no">([^<]+) \(', page))
    assert len(options) >= 4, "the head picks from the district's acceptors, reviewers, deciders and heads"
    chosen = next(user_id for user_id, name in options.items() if name != _holders(mine)["2"])
    assert pages.post("/ui/applications/2/act/reassign", {"user_id": chosen}).status_code == 303
    assert _holders(pages.text("/ui/review/queue?state=submitted"))["2"] == options[chosen]
    assert pages.post("/ui/applications/2/act/reassign", {"user_id": "x"}).status_code in (400, 422)


def test_a_failed_inspection_gives_a_printable_disposal_notice(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    with pages.container.sessions() as session:  # the desk below declares against certificate 1
        certificate_no = str(session.scalar(select(CertificateRow.certificate_no).where(CertificateRow.id == 1)))
    number = declaration_no(pages.container, certificate_no, inspected=True, rate=Decimal("0.01"))  # any rate > 1 %
    response = _declare(pages, number, "5", key="notice")
    path = response.headers["Location"]
    declaration_id = path.rsplit("/", 1)[1]
    assert 'data-action="inspection"' in pages.text(path)
    assert pages.text(f"/ui/declarations/{declaration_id}/disposal-notice", status=404)
    failed = pages.post(
        f"/ui/port/declarations/{declaration_id}/inspection",
        {"outcome": "fail", "disposal": "destroy", "reason": "包装破损，疑似泄漏"},
    )
    assert failed.status_code == 303
    notice = pages.text(f"/ui/declarations/{declaration_id}/disposal-notice")
    assert "检验检疫处理通知书" in notice and f"{number}-D" in notice
    assert "上述货物应在海关监督下销毁" in notice and "包装破损" in notice
    assert "disposal-notice" in pages.text(path)  # the declaration page links to it
