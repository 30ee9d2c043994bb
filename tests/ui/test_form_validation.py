"""Every input checked at the pages' door: a bad field is the form again, input kept, reason at the field (422).

Where a page posts a small action form with no form of its own (a reason, a correction notice), the refusal is an
error page naming the field. Never a 500, and nothing is written either way.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.ui.conftest import Pages
from tests.ui.test_applicant_pages import LINE
from workflow.domain import inputs
from workflow.store.tables import ApplicationRow, AuditEventRow, DeclarationRow, LedgerEntryRow

NEW_APPLICATION = "/ui/applicant/applications/new"
DECLARE = "/ui/port/certificates/1/declare"


def written(pages: Pages) -> dict[str, int]:
    with pages.container.sessions() as session:
        tables = (ApplicationRow, DeclarationRow, LedgerEntryRow, AuditEventRow)
        return {table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0 for table in tables}


def _refused_at(response: object, field: str, typed: str) -> str:
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 422, page[:2000]  # type: ignore[attr-defined]
    assert f'id="{field}-error"' in page and 'aria-invalid="true"' in page, page[:3000]
    assert f'value="{typed}"' in page  # what was typed comes back for correcting
    return page


@pytest.mark.parametrize("quantity", ["0.123456789", "1e30", "1e400", "0.00001", "NaN"])
def test_a_quantity_the_ledger_cannot_hold_is_a_field_error_on_the_new_application_form(
    pages: Pages, quantity: str
) -> None:
    pages.sign_in("xiamen.applicant")
    before = written(pages)
    response = pages.post(
        NEW_APPLICATION, {"direction": "entry", "district": "xiamen", **LINE, "line-0-quantity": quantity}
    )
    _refused_at(response, "line-0-quantity", quantity)
    assert written(pages) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("line-0-name_zh", "名" * 1200),
        ("line-0-unit", "x" * (inputs.UNIT + 1)),
        ("line-0-specification", "x" * (inputs.DETAIL + 1)),
    ],
    ids=["name-1200", "unit-over-column", "specification-over-limit"],
)
def test_text_over_its_limit_is_a_field_error_on_the_new_application_form(pages: Pages, field: str, value: str) -> None:
    pages.sign_in("xiamen.applicant")
    before = written(pages)
    response = pages.post(NEW_APPLICATION, {"direction": "entry", "district": "xiamen", **LINE, field: value})
    _refused_at(response, field, value)
    assert written(pages) == before


@pytest.mark.parametrize("quantity", ["0.123456789", "1e30", "NaN", "-1", "abc"])
def test_a_quantity_the_ledger_cannot_hold_is_a_field_error_on_the_port_declaration_form(
    pages: Pages, quantity: str
) -> None:
    pages.sign_in("xiamen.port_officer")
    before = written(pages)
    response = pages.post(
        DECLARE, {"declaration_no": "DEC-FORM-1", "line_no": "1", "qty": quantity, "idempotency_key": "form-1"}
    )
    page = _refused_at(response, "qty", quantity)
    assert 'value="DEC-FORM-1"' in page and 'value="form-1"' in page  # the rest kept, the one-time key too
    assert written(pages) == before
    fixed = pages.post(
        DECLARE, {"declaration_no": "DEC-FORM-1", "line_no": "1", "qty": "1", "idempotency_key": "form-1"}
    )
    assert fixed.status_code == 303  # corrected, the same form goes through


@pytest.mark.parametrize(
    ("field", "value"),
    [("port", "x" * (inputs.DECLARATION_PORT + 1)), ("declaration_no", "D" * (inputs.CODE + 1)), ("port", "a\nb")],
    ids=["port-over-column", "number-over-column", "line-break-in-one-line-field"],
)
def test_text_over_its_limit_is_a_field_error_on_the_port_declaration_form(
    pages: Pages, field: str, value: str
) -> None:
    pages.sign_in("xiamen.port_officer")
    before = written(pages)
    body = {"declaration_no": "DEC-FORM-2", "line_no": "1", "qty": "1", "idempotency_key": "form-2", field: value}
    response = pages.post(DECLARE, body)
    assert response.status_code == 422 and f'id="{field}-error"' in response.get_data(as_text=True)
    assert written(pages) == before


@pytest.mark.parametrize("line_no", ["7", "99999999999999999999", "-1"])
def test_a_line_the_certificate_does_not_have_is_refused_naming_the_line(pages: Pages, line_no: str) -> None:
    pages.sign_in("xiamen.port_officer")
    before = written(pages)
    response = pages.post(DECLARE, {"declaration_no": "DEC-FORM-3", "line_no": line_no, "qty": "1"})
    assert response.status_code in (400, 422) and "line_no" in response.get_data(as_text=True)
    assert written(pages) == before


def test_a_correction_notice_over_the_forms_4000_characters_is_refused_naming_the_field(pages: Pages) -> None:
    pages.sign_in("xiamen.acceptor")
    before = written(pages)
    notice = "\n".join(["缺少盖章页" * 50] * 21)  # 21 deficiencies of 250 characters: over 4,000 together
    response = pages.post("/ui/applications/2/act/request_correction", {"deficiencies": notice})
    assert response.status_code in (400, 422) and "deficiencies" in response.get_data(as_text=True)
    one_too_long = pages.post("/ui/applications/2/act/request_correction", {"deficiencies": "x" * 501})
    assert one_too_long.status_code in (400, 422) and "deficiencies" in one_too_long.get_data(as_text=True)
    assert written(pages) == before


def test_a_20000_character_withdrawal_reason_is_refused_naming_the_field(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    draft = pages.post(NEW_APPLICATION, {"direction": "entry", "district": "xiamen", **LINE})
    application_id = int(draft.headers["Location"].rsplit("/", 1)[1])
    before = written(pages)
    response = pages.post(f"/ui/applications/{application_id}/act/withdraw", {"reason": "x" * 20_000})
    assert response.status_code in (400, 422) and "reason" in response.get_data(as_text=True)
    assert written(pages) == before


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/ui/applications/2/act/request_correction", {"deficiencies": "缺少\x00盖章页"}),
        ("/ui/applications/2/act/not_accept", {"reason": "\x1b[2J"}),
        (NEW_APPLICATION, {"direction": "entry", "district": "xiamen", **LINE, "line-0-name_zh": "IL\x006"}),
    ],
    ids=["notice", "reason", "goods-name"],
)
def test_a_nul_or_other_control_character_in_a_form_is_refused_not_a_500(
    pages: Pages, path: str, data: dict[str, str]
) -> None:
    pages.sign_in("xiamen.applicant" if path == NEW_APPLICATION else "xiamen.acceptor")
    before = written(pages)
    response = pages.post(path, data)
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:2000]
    assert written(pages) == before


def test_a_nul_in_the_sign_in_form_is_refused_not_a_500(pages: Pages) -> None:
    response = pages.sign_in("xiamen\x00.applicant")
    assert response.status_code in (400, 401, 422)


@pytest.mark.parametrize(
    "path",
    [
        "/ui/audit/write-offs?enterprise_id=99999999999999999999",
        "/ui/audit/write-offs?before=99999999999999999999999",
        "/ui/review/queue?before=99999999999999999999",
        "/ui/applicant/applications?before=99999999999999999999",
        "/ui/review/queue?district=%00",
        "/ui/port/?number=%00",
    ],
)
def test_a_huge_or_unprintable_query_filter_is_never_a_500(pages: Pages, path: str) -> None:
    role = re.search(r"/ui/(audit|review|applicant|port)/", path).group(1)  # type: ignore[union-attr]
    user = {"audit": "xiamen.auditor", "review": "xiamen.acceptor", "applicant": "xiamen.applicant"}
    pages.sign_in(user.get(role, "xiamen.port_officer"))
    assert pages.client.get(path).status_code in (200, 400, 422)
