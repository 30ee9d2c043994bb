"""The auditor's views: running balances, CSV, the ledger check, trails and the dashboard."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from tests.ui.conftest import Pages
from web.ui.audit import CSV_COLUMNS
from workflow.domain import commands as c
from workflow.domain.goods import Direction
from workflow.store import ui_queries
from workflow.store.directory import find_user


def _write_off(pages: Pages, number: str, qty: int) -> dict:
    with pages.container.sessions() as session:
        officer = find_user(session, "xiamen.port_officer")
        certificate_no = ui_queries.approvals(session, 1, 1)[0]["certificate_no"]
    assert officer is not None
    command = c.DeclareShipment(
        officer.actor, number, certificate_no, pages.container.deps.clock.today(), Direction.ENTRY, ((1, Decimal(qty)),)
    )
    result: dict = pages.container.bus.handle(command)
    if result["state"] == "inspection":
        pages.container.bus.handle(c.RecordInspection(officer.actor, result["declaration_id"], outcome="pass"))
    return result


def test_running_balances_follow_every_write_off_of_the_line(pages: Pages) -> None:
    _write_off(pages, "DEC-UI-1", 30)
    _write_off(pages, "DEC-UI-2", 20)
    with pages.container.sessions() as session:
        rows = ui_queries.ledger_history(session, ui_queries.LedgerFilter(certificate_id=1), None, 10)
    commits = [(row["qty"], row["committed"], row["remaining"]) for row in rows if row["kind"] == "commit"]
    assert commits == [("20", "50", "50"), ("30", "30", "70")]  # newest first, demo certificate of 100


def test_the_write_off_page_and_its_csv_show_the_same_balances(pages: Pages) -> None:
    _write_off(pages, "DEC-UI-3", 15)
    pages.sign_in("xiamen.auditor")
    page = pages.text("/ui/audit/write-offs")
    assert "DEC-UI-3" in page and 'class="num remaining" translate="no">85<' in page
    with pages.client.get("/ui/audit/write-offs.csv") as response:
        assert response.mimetype == "text/csv"
        _headers, *cells = csv.reader(io.StringIO(response.get_data(as_text=True)))
    rows = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in cells]  # the headers are in the reader's language
    commit = next(row for row in rows if row["kind"] == "已核销")
    assert (commit["declaration_no"], commit["qty"], commit["remaining"]) == ("DEC-UI-3", "15", "85")


def test_a_bad_period_is_a_clear_error_not_a_crash(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    response = pages.client.get("/ui/audit/write-offs?since=yesterday")
    assert response.status_code == 400
    assert "since" in response.get_data(as_text=True) and "YYYY-MM-DD" in response.get_data(as_text=True)
    assert pages.client.get("/ui/audit/write-offs?certificate_no=NOPE").status_code == 400


def test_the_ledger_check_finds_every_balance_in_order(pages: Pages) -> None:
    _write_off(pages, "DEC-UI-4", 10)
    pages.sign_in("xiamen.auditor")
    page = pages.text("/ui/audit/ledger-check")
    assert 'id="ledger-verdict"' in page and "未发现问题" in page


def test_an_objects_trail_comes_with_its_lifecycle_diagram(pages: Pages) -> None:
    pages.sign_in("xiamen.auditor")
    page = pages.text("/ui/audit/trail?object_type=application&object_id=1")
    assert re.search(r'class="state current[^"]*" data-state="granted"', page)
    assert "准予许可" in page  # the grant step of the timeline
    assert pages.client.get("/ui/audit/trail?object_type=ledger").status_code == 400


def test_the_sign_in_history_is_an_audit_trail_too(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant", "wrong")
    pages.sign_in("xiamen.auditor")
    page = pages.text("/ui/audit/trail?object_type=user")
    assert "登录被拒绝" in page and "xiamen.applicant" in page


def test_a_document_is_downloaded_by_those_who_may_see_its_application(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    with pages.client.get("/ui/documents/1") as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.get_data().startswith(b"%PDF") and "attachment" in response.headers["Content-Disposition"]
    pages.post("/ui/sign-out")
    pages.sign_in("fuzhou.acceptor")
    assert pages.client.get("/ui/documents/1").status_code == 404


def test_an_auditor_of_one_district_cannot_read_anothers_trail(pages: Pages) -> None:
    pages.sign_in("fuzhou.auditor")
    assert pages.client.get("/ui/audit/trail?object_type=application&object_id=1").status_code == 404


def test_the_dashboard_draws_its_charts_as_svg(pages: Pages) -> None:
    _write_off(pages, "DEC-UI-5", 5)
    pages.sign_in("xiamen.auditor")
    page = pages.text("/ui/audit/")
    assert page.count('<svg class="chart"') >= 3
    assert 'data-label="准予许可"' in page  # applications by state: the demo's granted one
    assert "<script" not in page.split("</head>")[1]  # charts need no script
