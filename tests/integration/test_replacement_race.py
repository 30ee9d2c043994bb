"""R43 / C7 under real concurrency: a certificate superseded or cancelled while client processes declare against it.

On PostgreSQL, four client processes draw on the old certificate's lines while the decider grants its replacement
(or approves the holder's cancellation). The decision waits for the write-offs in flight (it locks the certificate;
declarations hold it shared), then cancels it in its own transaction: every declaration told "released" has exactly
one commit, every one still in flight is voided with its reservation released, nothing is filed after, and the
auditor's checks pass.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from config.bootstrap import Container
from config.keys import key_ring
from tests.conftest import Cast, wait_for
from tests.integration.replacement_race_client import declare_until_cancelled
from tests.integration.stress_client import Cast as ClientCast
from tests.integration.support import balances, certificate_state, fx10_cytokine, grant
from tests.integration.test_replacements import replace_with
from workflow.domain import commands as c
from workflow.domain.certificate_changes import ChangeKind
from workflow.store.audit_ledger import audit_ledger
from workflow.store.audit_trail import verify_trail
from workflow.store.signing import KeyRing
from workflow.store.tables import CertificateRow, DeclarationRow, LedgerEntryRow

D = Decimal
OPEN = ("declared", "doc_checked", "port_review", "inspection", "lab_hold")


def _filed(container: Container, certificate_no: str) -> int:
    with container.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(DeclarationRow)
                .join(CertificateRow, CertificateRow.id == DeclarationRow.certificate_id)
                .where(CertificateRow.certificate_no == certificate_no)
            )
            or 0
        )


def _committed_numbers(container: Container, certificate_no: str) -> list[str]:
    with container.sessions() as session:
        return list(
            session.scalars(
                select(DeclarationRow.declaration_no)
                .join(LedgerEntryRow, LedgerEntryRow.declaration_id == DeclarationRow.id)
                .join(CertificateRow, CertificateRow.id == LedgerEntryRow.certificate_id)
                .where(CertificateRow.certificate_no == certificate_no, LedgerEntryRow.kind == "commit")
            )
        )


def _race(container: Container, cast: Cast, url: str, tmp_path: Path, old_no: str, decide: Callable[[], Any]) -> Any:
    """Four clients declare against `old_no`; once they are under way, `decide` ends it; returns their tallies."""
    client_cast = ClientCast(cast.applicant, cast.port_officer, cast.decider)
    jobs = [(url, str(tmp_path), old_no, client_cast, seed) for seed in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        running = pool.map_async(declare_until_cancelled, jobs)
        wait_for(lambda: _filed(container, old_no) >= 20, timeout=120, what="the clients to be declaring")
        decided = decide()
        tallies = running.get(timeout=300)
    assert all(tally["stopped_by_cancellation"] for tally in tallies), tallies  # each was in flight at the decision
    return decided, tallies


def _assert_nothing_lost_or_doubled(container: Container, old_no: str, tallies: list[dict[str, Any]]) -> None:
    assert certificate_state(container, old_no) == "cancelled"
    told_released = sorted(no for tally in tallies for no in tally["released_nos"])
    committed = sorted(_committed_numbers(container, old_no))
    assert committed == told_released, "a write-off was lost or applied twice"
    assert len(committed) == len(set(committed))
    assert all(reserved == 0 for _approved, _used, reserved in balances(container, old_no).values())
    with container.sessions() as session:
        open_left = session.scalar(
            select(func.count())
            .select_from(DeclarationRow)
            .join(CertificateRow, CertificateRow.id == DeclarationRow.certificate_id)
            .where(CertificateRow.certificate_no == old_no, DeclarationRow.state.in_(OPEN))
        )
        ledger_check = audit_ledger(session)
    assert open_left == 0, "a declaration on the old certificate is still in flight"
    assert ledger_check.ok, ledger_check.as_dict()


def _assert_trail_intact(container: Container, tmp_path: Path) -> None:
    """The racing commits form one unbroken hash chain, and every line's receipts add up to its balance."""
    container.sequencer.seal()
    keys = key_ring(container.settings).public_keys() | KeyRing(tmp_path / "keys").public_keys()
    with container.engine.connect() as connection:
        report = verify_trail(connection, keys)
    assert report.ok, report.as_dict()
    assert report.receipts_checked > 0


@pytest.fixture
def pg(make_container: Callable[..., Container], postgres_url: str) -> tuple[Container, Cast]:
    from tests.conftest import _empty_tables, make_cast

    _empty_tables(postgres_url)
    container = make_container(postgres_url)
    return container, make_cast(container)


def test_r43_a_replacement_granted_during_declarations_loses_no_quota_and_uses_none_twice(
    pg: tuple[Container, Cast], postgres_url: str, tmp_path: Path
) -> None:
    container, cast = pg
    old_no = grant(container, cast, fx10_cytokine(300), fx10_cytokine(300), fx10_cytokine(300))
    draft = replace_with(container, cast, old_no, 900)  # reviewed and ready for the decision

    def grant_replacement() -> Any:
        return container.bus.handle(c.GrantApplication(cast.decider, draft, "替换原审批单"))

    new_id, tallies = _race(container, cast, postgres_url, tmp_path, old_no, grant_replacement)

    _assert_nothing_lost_or_doubled(container, old_no, tallies)
    with container.sessions() as session:
        new_no = session.scalar(select(CertificateRow.certificate_no).where(CertificateRow.id == new_id))
    untouched = {1: (D(900), D(0), D(0)), 2: (D(300), D(0), D(0)), 3: (D(300), D(0), D(0))}
    assert balances(container, str(new_no)) == untouched
    _assert_trail_intact(container, tmp_path)


def test_c7_a_cancellation_approved_during_declarations_loses_no_quota_and_uses_none_twice(
    pg: tuple[Container, Cast], postgres_url: str, tmp_path: Path
) -> None:
    container, cast = pg
    old_no = grant(container, cast, fx10_cytokine(300), fx10_cytokine(300), fx10_cytokine(300))
    with container.sessions() as session:
        old_id = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == old_no))
    asked = c.RequestCertificateChange(cast.applicant, int(old_id or 0), ChangeKind.CANCELLATION, "项目终止")
    change_id = container.bus.handle(asked)  # the holder asked; declarations go on until the district decides

    def approve() -> Any:
        return container.bus.handle(c.DecideCertificateChange(cast.decider, change_id, True, ""))

    _decided, tallies = _race(container, cast, postgres_url, tmp_path, old_no, approve)

    _assert_nothing_lost_or_doubled(container, old_no, tallies)
    _assert_trail_intact(container, tmp_path)
