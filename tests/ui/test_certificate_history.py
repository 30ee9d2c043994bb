"""One certificate's write-off history in one statement gives the rows the two-step read gave (balances included).

`ui_queries.ledger_history` reads a certificate's page and its running sums together; every other filter keeps the
two steps (the page, then the sums over the page's lines). Both are compared here on every demo certificate, on
every page size and keyset position, and over periods.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.ui.conftest import Pages
from tests.ui.test_audit_views import _write_off
from workflow.store import ui_queries
from workflow.store.tables import LedgerEntryRow


def two_steps(session: Session, where: ui_queries.LedgerFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
    """The general path: the page of entries, then the running sums of its lines."""
    page = session.execute(ui_queries._ledger_page(where, before, limit)).mappings().all()
    if not page:
        return []
    lines = {row["certificate_line_id"] for row in page}
    balances = ui_queries._running_balances(session, lines, page[0]["id"])
    return [ui_queries._history_row(row, *balances[row["id"]]) for row in page]


def write_offs(pages: Pages) -> None:
    """Reservations and commits on the demo certificate, some inspected first: several entries per line."""
    for number, qty in (("DEC-H-1", 30), ("DEC-H-2", 20), ("DEC-H-3", 5)):
        _write_off(pages, number, qty)


def test_a_certificates_history_reads_as_the_two_steps_did(pages: Pages) -> None:
    write_offs(pages)
    with pages.container.sessions() as session:
        entries = session.execute(select(LedgerEntryRow.certificate_id, LedgerEntryRow.id)).all()
        certificates = sorted({certificate_id for certificate_id, _ in entries})
        assert certificates, "the demo writes off on some certificate"
        compared = 0
        for certificate_id in certificates:
            ids = sorted(entry_id for owner, entry_id in entries if owner == certificate_id)
            for before in (None, *ids, ids[-1] + 1):
                for limit in (1, 2, 200):
                    where = ui_queries.LedgerFilter(certificate_id=certificate_id)
                    got = ui_queries.ledger_history(session, where, before, limit)
                    assert got == two_steps(session, where, before, limit), (certificate_id, before, limit)
                    compared += len(got)
        assert compared


def test_a_period_and_an_owner_filter_the_page_not_the_balances(pages: Pages) -> None:
    write_offs(pages)
    with pages.container.sessions() as session:
        certificate_id = session.scalar(select(LedgerEntryRow.certificate_id).order_by(LedgerEntryRow.id))
        assert certificate_id is not None
        for since, until in ((None, None), (date(2000, 1, 1), date(2100, 1, 1)), (date(2100, 1, 1), None)):
            for district in (None, "xiamen", "nowhere"):
                where = ui_queries.LedgerFilter(
                    certificate_id=certificate_id, district=district, since=since, until=until
                )
                assert ui_queries.ledger_history(session, where, None, 50) == two_steps(session, where, None, 50)
