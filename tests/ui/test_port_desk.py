"""The port desk: the district's active certificates (paged, searchable) and a declaration of several lines.

A declaration of N lines from the form goes through the same command as the API's (DeclareShipment), so the lines
are judged and drawn together: one declaration, one ledger row per line.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.conftest import Cast
from tests.integration.support import fx10_cytokine, grant
from tests.ui.conftest import Pages
from web.ui import port
from workflow.domain.actors import Role
from workflow.store.directory import find_user
from workflow.store.tables import DeclarationLineRow, DeclarationRow, LedgerEntryRow
from workflow.store.ui_queries import certificate_id_by_no

D = Decimal


def _cast(pages: Pages) -> Cast:
    """The demo's Xiamen people, as the integration helpers want them."""
    with pages.container.sessions() as session:
        users = {role: find_user(session, f"xiamen.{role}") for role in
                 ("applicant", "acceptor", "reviewer", "decider", "port_officer")}  # fmt: skip
    actors = {role: user.actor for role, user in users.items() if user is not None}
    officers = {Role(role): actor for role, actor in actors.items() if role != "applicant"}
    return Cast(actors["applicant"], officers, actors["applicant"].enterprise_id or 0)


def _two_line_certificate(pages: Pages, ports: tuple[str, ...] = ()) -> tuple[int, str]:
    number = grant(pages.container, _cast(pages), fx10_cytokine(100), fx10_cytokine(50), ports=ports)
    with pages.container.sessions() as session:
        found = certificate_id_by_no(session, number)
    assert found is not None
    return found, number


def _two_lines(number: str, first: str, second: str, second_line: str = "2", **more: str) -> dict[str, str]:
    """A posted form of two lines: line 1 of the certificate, then `second_line`."""
    body = {"declaration_no": number, "line_no": "1", "qty": first, "line_count": "2"}
    return {**body, "line2-line_no": second_line, "line2-qty": second, **more}


def _declare(pages: Pages, certificate_id: int, body: dict[str, str]) -> object:
    return pages.post(
        f"/ui/port/certificates/{certificate_id}/declare",
        {"idempotency_key": "k-" + body.get("declaration_no", ""), **body},
    )


def test_the_desk_lists_the_districts_active_certificates_and_finds_one_by_number_or_enterprise(pages: Pages) -> None:
    pages.sign_in("xiamen.port_officer")
    desk = pages.text("/ui/port/")
    listed = desk.split('id="active-certificates"')[1]
    assert "XI2016I000001" in listed and "厦门海沧生物科技有限公司" in listed
    assert "XI2016I000001" in pages.text("/ui/port/?q=XI2016").split('id="active-certificates"')[1]
    assert "XI2016I000001" in pages.text("/ui/port/?q=海沧").split('id="active-certificates"')[1]
    assert "XI2016I000001" in pages.text("/ui/port/?q=haicang").split('id="active-certificates"')[1]
    missing = pages.text("/ui/port/?q=%25").split('id="active-certificates"')[1]  # a wildcard is a character here
    assert "XI2016I000001" not in missing


def test_another_districts_port_officer_does_not_see_them(pages: Pages) -> None:
    pages.sign_in("fuzhou.port_officer")
    assert "XI2016I000001" not in pages.text("/ui/port/").split('id="active-certificates"')[1]


def test_the_list_pages_by_id(pages: Pages, monkeypatch: pytest.MonkeyPatch) -> None:
    _, newest = _two_line_certificate(pages)
    monkeypatch.setattr(port, "CERTIFICATES_PAGE", 1)
    pages.sign_in("xiamen.port_officer")
    first = pages.text("/ui/port/").split('id="active-certificates"')[1]
    assert newest in first and "XI2016I000001" not in first and 'id="next-page"' in first
    before = first.split('id="next-page"')[0].rsplit("before=", 1)[1].split('"')[0]
    second = pages.text(f"/ui/port/?before={before}").split('id="active-certificates"')[1]
    assert "XI2016I000001" in second and newest not in second and 'id="next-page"' not in second


def test_lines_are_added_and_removed_on_the_form_keeping_what_was_typed(pages: Pages) -> None:
    certificate_id, _ = _two_line_certificate(pages)
    pages.sign_in("xiamen.port_officer")
    page = pages.text(f"/ui/port/certificates/{certificate_id}")
    assert 'name="line2-qty"' not in page and 'name="add_line"' in page
    added = _declare(
        pages,
        certificate_id,
        {"declaration_no": "DEC-ML-0", "line_no": "1", "qty": "3", "line_count": "1", "add_line": "1"},
    )
    text = added.get_data(as_text=True)
    assert added.status_code == 200 and 'name="line2-qty"' in text and 'value="3"' in text
    assert 'name="add_line"' not in text  # the certificate has two lines: a third would repeat one (W2)
    removed = _declare(pages, certificate_id, _two_lines("DEC-ML-0", "3", "4", remove_line="2"))
    assert removed.status_code == 200 and 'name="line2-qty"' not in removed.get_data(as_text=True)
    with pages.container.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(DeclarationRow).where(DeclarationRow.declaration_no == "DEC-ML-0")
            )
            == 0
        )


def test_a_declaration_of_two_lines_is_one_declaration_drawing_both_lines(pages: Pages) -> None:
    certificate_id, _ = _two_line_certificate(pages)
    pages.sign_in("xiamen.port_officer")
    response = _declare(pages, certificate_id, _two_lines("DEC-ML-1", "30", "20"))
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    with pages.container.sessions() as session:
        declaration = session.scalars(select(DeclarationRow).where(DeclarationRow.declaration_no == "DEC-ML-1")).one()
        lines = (
            session.execute(
                select(DeclarationLineRow.requested_qty).where(DeclarationLineRow.declaration_id == declaration.id)
            )
            .scalars()
            .all()
        )
        drawn = session.scalars(
            select(LedgerEntryRow.qty).where(
                LedgerEntryRow.declaration_id == declaration.id, LedgerEntryRow.kind == "reserve"
            )
        ).all()
    assert sorted(lines) == [D(20), D(30)]
    assert sorted(drawn) == [D(20), D(30)]


def test_a_bad_quantity_on_the_second_line_is_refused_at_that_line_and_nothing_is_filed(pages: Pages) -> None:
    certificate_id, _ = _two_line_certificate(pages)
    pages.sign_in("xiamen.port_officer")
    response = _declare(pages, certificate_id, _two_lines("DEC-ML-2", "5", "-4"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="line2-qty-error"' in page and 'id="qty-error"' not in page
    assert 'value="-4"' in page and 'value="DEC-ML-2"' in page
    with pages.container.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(DeclarationRow).where(DeclarationRow.declaration_no == "DEC-ML-2")
            )
            == 0
        )


def test_the_same_certificate_line_twice_is_refused_by_the_engine_and_nothing_is_filed(pages: Pages) -> None:
    certificate_id, _ = _two_line_certificate(pages)
    pages.sign_in("xiamen.port_officer")
    response = _declare(pages, certificate_id, _two_lines("DEC-ML-3", "5", "4", second_line="1"))
    assert response.status_code == 422
    assert 'value="4"' in response.get_data(as_text=True)  # the form comes back as it was typed
    with pages.container.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(DeclarationRow).where(DeclarationRow.declaration_no == "DEC-ML-3")
            )
            == 0
        )


def test_a_declaration_at_a_port_the_application_does_not_list_is_held_for_the_officer(pages: Pages) -> None:
    certificate_id, _ = _two_line_certificate(pages, ports=("厦门高崎机场",))
    pages.sign_in("xiamen.port_officer")
    page = pages.text(f"/ui/port/certificates/{certificate_id}")
    assert "厦门高崎机场" in page  # the listed ports are shown at the port field
    response = _declare(
        pages, certificate_id, {"declaration_no": "DEC-ML-4", "line_no": "1", "qty": "5", "port": "上海浦东机场"}
    )
    assert response.status_code == 303
    with pages.container.sessions() as session:
        held = session.scalars(select(DeclarationRow).where(DeclarationRow.declaration_no == "DEC-ML-4")).one()
    assert held.state == "port_review" and "上海浦东机场" in (held.hold_reason or "")
