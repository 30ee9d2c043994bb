"""The officer's credit page (R68–R74): who gets the forms, refusals at their field in Chinese, the queue's tier."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.conftest import FixedClock
from tests.ui.conftest import Pages
from workflow.store.tables import CreditChangeRow, EnterpriseRow, ViolationCaseRow

CHANGE = {
    "kind": "discredit",
    "tier": "discredited",
    "effective_from": "2026-12-07",
    "ground": "smuggling",
    "reason": "走私违法行为",
}
CODES = re.compile(
    r">\s*(discredit|discredited|smuggling|advanced_certified|order-282|refused_quarantine|violation_case)\s*<"
)


@pytest.fixture(autouse=True)
def _gacc_era(clock: FixedClock) -> None:
    """After the demo's Order 282 records begin (2026-04-01): gacc-2026 governs Xiamen, its regime is Order 282."""
    clock.today_value = date(2026, 12, 6)


def _enterprise_id(pages: Pages) -> int:
    with pages.container.sessions() as session:
        found = session.scalar(select(EnterpriseRow.id).where(EnterpriseRow.district == "xiamen"))
        assert found is not None
        return found


def _page(pages: Pages) -> str:
    return f"/ui/credit/enterprises/{_enterprise_id(pages)}"


def _count(pages: Pages, table: type) -> int:
    """Rows about the Xiamen enterprise (the demo has events of its own elsewhere)."""
    with pages.container.sessions() as session:
        query = select(func.count()).select_from(table).where(table.enterprise_id == _enterprise_id(pages))
        return int(session.scalar(query) or 0)


def test_r72_the_decider_records_a_discredit_and_the_page_shows_it_pending_in_chinese(pages: Pages):
    pages.sign_in("xiamen.decider")
    answer = pages.post(f"{_page(pages)}/changes", CHANGE)
    assert answer.status_code == 303
    page = pages.text(_page(pages))
    assert "失信" in page and "2026-12-07" in page
    assert "待生效" in page or "起" in page  # the pending change is said, in Chinese
    assert not CODES.search(page), CODES.search(page)
    assert _count(pages, CreditChangeRow) == 1


@pytest.mark.parametrize(("username", "case_form"), [("xiamen.reviewer", True), ("xiamen.auditor", False)])
def test_r72_a_reviewer_or_auditor_reads_the_page_without_the_change_form_and_a_post_is_refused(
    pages: Pages, username: str, case_form: bool
):
    pages.sign_in(username)
    page = pages.text(_page(pages))
    assert f'action="{_page(pages)}/changes"' not in page
    assert (f'action="{_page(pages)}/cases"' in page) is case_form
    assert pages.post(f"{_page(pages)}/changes", CHANGE).status_code == 403
    assert _count(pages, CreditChangeRow) == 0


def test_r72_another_districts_decider_does_not_find_the_enterprise(pages: Pages):
    pages.sign_in("fuzhou.decider")
    assert pages.client.get(_page(pages)).status_code == 404
    assert pages.post(f"{_page(pages)}/changes", CHANGE).status_code == 404
    assert _count(pages, CreditChangeRow) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"effective_from": "2026-12-06"}, "最早自明日起"),
        ({"effective_from": "not a date"}, "日期"),
        ({"tier": "regular", "kind": "discredit"}, "不符"),
        ({"ground": "certification_audit"}, "理由"),
        ({"reason": ""}, "必填"),
    ],
    ids=["R73-today", "date", "R72-tier", "R72-ground", "reason"],
)
def test_a_refused_change_returns_to_the_form_with_the_input_kept_and_a_chinese_message(
    pages: Pages, overrides: dict[str, str], message: str
):
    pages.sign_in("xiamen.head")
    answer = pages.post(f"{_page(pages)}/changes", {**CHANGE, **overrides})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'class="error"' in page and message in page
    assert "走私违法行为" in page or overrides.get("reason") == ""  # the input is kept
    assert 'id="refused"' in page
    assert _count(pages, CreditChangeRow) == 0


def test_r74_a_reviewer_records_a_violation_case_and_a_second_one_is_refused_at_the_case_number(pages: Pages):
    pages.sign_in("xiamen.reviewer")
    case = {"case_no": "厦关缉违字〔2026〕3号", "kind": "refused_quarantine", "decided_on": "2026-11-30"}
    assert pages.post(f"{_page(pages)}/cases", case).status_code == 303
    again = pages.post(f"{_page(pages)}/cases", case)
    assert again.status_code == 422 and "该案件已为本企业记录" in again.get_data(as_text=True)
    assert "拒绝接受检疫" in pages.text(_page(pages))
    assert _count(pages, ViolationCaseRow) == 1


def test_r73_the_review_queue_shows_the_tier_in_force_and_the_pending_change(pages: Pages):
    pages.sign_in("xiamen.decider")
    pages.post(f"{_page(pages)}/changes", CHANGE)
    queue = pages.text("/ui/review/queue?state=all")
    assert "信用" in queue and "失信" in queue


def test_r73_the_enterprise_sees_its_tier_in_force_and_the_pending_change_on_its_profile(pages: Pages):
    pages.sign_in("xiamen.decider")
    pages.post(f"{_page(pages)}/changes", CHANGE)
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.applicant")
    profile = pages.text("/ui/applicant/enterprise")
    assert "今日适用的信用等级" in profile and "高级认证" in profile
    assert "自 2026-12-07 起为失信企业（待生效）" in profile
    assert not CODES.search(profile), CODES.search(profile)


def test_r72_the_auditor_reads_who_changed_the_credit_on_what_ground_in_chinese(pages: Pages):
    pages.sign_in("xiamen.decider")
    pages.post(f"{_page(pages)}/changes", CHANGE)
    pages.post("/ui/sign-out")
    pages.sign_in("xiamen.auditor")
    page = pages.text(_page(pages))
    assert "走私犯罪或者走私行为" in page and "高级认证" in page and "失信认定" in page
    assert "xiamen.decider" in page or "decider" in page
    assert not CODES.search(page), CODES.search(page)
