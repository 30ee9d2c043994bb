"""The auditor's check (`specgoods audit ledger`): balances re-derived from the ledger, and the W13 invariants.

The data is written straight into the tables, as the write-off services would leave it (or as a tamperer would),
so these tests pin the auditor alone. They run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, text, update
from sqlalchemy.orm import Session

from config.bootstrap import Container
from tests.conftest import Cast
from workflow.store import audit_chain
from workflow.store.audit_ledger import LedgerAudit, audit_ledger
from workflow.store.tables import (
    ApplicationRow,
    CertificateLineRow,
    CertificateRow,
    DeclarationRow,
    LedgerEntryRow,
)

VALID_FROM = date(2016, 6, 1)
VALID_UNTIL = date(2016, 11, 30)
MORNING = datetime(2016, 6, 10, 9, 0)


@dataclass(frozen=True)
class Cert:
    id: int
    no: str
    line_ids: tuple[int, ...]
    unit: str = "支"


class Book:
    """Writes certificates, declarations, ledger entries and audit events as the write-off services would."""

    def __init__(self, container: Container, cast: Cast) -> None:
        self.container, self.cast = container, cast
        self.port_officer = cast.port_officer.user_id
        self.decider = cast.decider.user_id

    def session(self) -> Session:
        return self.container.sessions()

    def certificate(
        self,
        no: str,
        grade: str = "B",
        approved: tuple[str, ...] = ("10",),
        follow_up: bool = False,
        valid_until: date = VALID_UNTIL,
    ) -> Cert:
        with self.session() as session, session.begin():
            application = _insert(session, ApplicationRow, **self._application(no))
            facts = self._certificate(no, application, grade, follow_up) | {"valid_until": valid_until}
            certificate = _insert(session, CertificateRow, **facts)
            lines = tuple(
                _insert(
                    session,
                    CertificateLineRow,
                    certificate_id=certificate,
                    line_no=number,
                    name_zh=f"人血清 {number}",
                    unit="支",
                    approved_qty=Decimal(qty),
                )
                for number, qty in enumerate(approved, start=1)
            )
        return Cert(certificate, no, lines)

    def _application(self, no: str) -> dict[str, Any]:
        return {
            "reference": f"APP-{no}",
            "enterprise_id": self.cast.enterprise_id,
            "district": "xiamen",
            "direction": "entry",
            "state": "granted",
            "created_at": MORNING,
            "updated_at": MORNING,
        }

    def _certificate(self, no: str, application: int, grade: str, follow_up: bool) -> dict[str, Any]:
        return {
            "certificate_no": no,
            "application_id": application,
            "enterprise_id": self.cast.enterprise_id,
            "district": "xiamen",
            "direction": "entry",
            "grade": grade,
            "write_off_mode": "single" if grade == "A" else "multiple",
            "paperless": grade != "A",
            "follow_up": follow_up,
            "state": "active",
            "valid_from": VALID_FROM,
            "valid_until": VALID_UNTIL,
            "policy_id": "xiamen-2016",
            "policy_hash": "0" * 64,
            "issued_at": MORNING,
        }

    def declaration(
        self, cert: Cert, no: str, state: str = "released", declared_on: date = date(2016, 6, 9), alerted: bool = False
    ) -> int:
        with self.session() as session, session.begin():
            return _insert(
                session,
                DeclarationRow,
                declaration_no=no,
                certificate_id=cert.id,
                enterprise_id=self.cast.enterprise_id,
                district="xiamen",
                declared_on=declared_on,
                state=state,
                released_on=declared_on + timedelta(days=1) if state != "rejected" else None,
                follow_up_alerted_at=MORNING + timedelta(days=40) if alerted else None,
                request_hash="0" * 64,
                created_at=MORNING,
            )

    def reserve(self, cert: Cert, line: int, declaration: int, qty: str, at: datetime = MORNING) -> int:
        with self.session() as session, session.begin():
            self._bump(session, cert.line_ids[line], reserved=Decimal(qty))
            return self.entry(session, cert, line, declaration, "reserve", qty, at)

    def write_off(self, cert: Cert, line: int, declaration: int, qty: str, at: datetime = MORNING) -> int:
        """Reserve at declaration, then commit on release: the commit consumes the reservation."""
        with self.session() as session, session.begin():
            self._bump(session, cert.line_ids[line], committed=Decimal(qty))
            self.entry(session, cert, line, declaration, "reserve", qty, at - timedelta(hours=1))
            return self.entry(session, cert, line, declaration, "commit", qty, at)

    def reverse(
        self,
        cert: Cert,
        line: int,
        entry: int,
        qty: str,
        actor: int | None = None,
        approver: int | None = None,
        at: datetime = MORNING + timedelta(days=5),
    ) -> int:
        with self.session() as session, session.begin():
            self._bump(session, cert.line_ids[line], committed=-Decimal(qty))
            return self.entry(
                session,
                cert,
                line,
                None,
                "reverse",
                qty,
                at,
                reverses_entry_id=entry,
                actor_id=actor or self.port_officer,
                approver_id=approver,
            )

    def close(self, cert: Cert, trigger: str, to_state: str, at: datetime) -> None:
        """A certificate transition and its audit event, as the certificate lifecycle writes them."""
        with self.session() as session, session.begin():
            session.execute(update(CertificateRow).where(CertificateRow.id == cert.id).values(state=to_state))
            event = {
                "object_type": "certificate",
                "object_id": cert.id,
                "object_ref": cert.no,
                "district": "xiamen",
                "actor_id": self.decider,
                "actor_role": "decider",
                "actor_name": "",
                "at": at,
                "trigger": trigger,
                "from_state": "active",
                "to_state": to_state,
                "reason": "",
                "policy_id": "",
                "policy_hash": "",
                "rule_ids": [],
                "inputs": {},
            }
            audit_chain.insert_unsealed(session.connection(), [event])  # as a unit of work writes them

    def sql(self, statement: str, **params: Any) -> None:
        with self.session() as session, session.begin():
            session.execute(text(statement), params)

    def audit(self, certificate_no: str | None = None) -> LedgerAudit:
        with self.session() as session:
            return audit_ledger(session, certificate_no)

    def entry(
        self,
        session: Session,
        cert: Cert,
        line: int,
        declaration: int | None,
        kind: str,
        qty: str,
        at: datetime,
        **extra: Any,
    ) -> int:
        return _insert(
            session,
            LedgerEntryRow,
            certificate_id=cert.id,
            certificate_line_id=cert.line_ids[line],
            declaration_id=declaration,
            kind=kind,
            qty=Decimal(qty),
            unit=cert.unit,
            actor_role="port_officer" if kind != "reverse" else "decider",
            **({"actor_id": self.port_officer} | extra),
            at=at,
        )

    def _bump(
        self, session: Session, line_id: int, committed: Decimal = Decimal(0), reserved: Decimal = Decimal(0)
    ) -> None:
        session.execute(
            update(CertificateLineRow)
            .where(CertificateLineRow.id == line_id)
            .values(
                committed_qty=CertificateLineRow.committed_qty + committed,
                reserved_qty=CertificateLineRow.reserved_qty + reserved,
            )
        )


def _insert(session: Session, table: Any, **values: Any) -> int:
    return int(session.execute(insert(table).values(**values).returning(table.id)).scalar_one())


def rules(result: LedgerAudit) -> set[str]:
    return {violation.rule for violation in result.violations}


@pytest.fixture
def book(container: Container, cast: Cast) -> Book:
    return Book(container, cast)


@pytest.fixture
def released(book: Book) -> tuple[Cert, int]:
    """A grade B certificate of two lines with one released declaration: the healthy starting point."""
    cert = book.certificate("SG-B-001", approved=("10", "5.5"))
    return cert, book.declaration(cert, "DECL-001")


# --- a clean ledger ------------------------------------------------------------------------------------------


def build_clean_ledger(book: Book) -> None:
    """Every shape the services may legally leave behind, none of which the auditor may flag."""
    multi = book.certificate("SG-B-001", approved=("10", "5.5"))
    first, second = book.declaration(multi, "DECL-001"), book.declaration(multi, "DECL-002")
    book.write_off(multi, 0, first, "4")
    book.write_off(multi, 1, first, "5.5")
    commit = book.write_off(multi, 0, second, "3", at=MORNING + timedelta(days=2))
    book.reverse(multi, 0, commit, "1", approver=book.decider)
    book.reserve(multi, 0, book.declaration(multi, "DECL-003", state="inspection"), "2.25")
    single = book.certificate("SG-A-001", grade="A", approved=("1", "2"))
    shipment = book.declaration(single, "DECL-004")
    book.write_off(single, 0, shipment, "1")
    book.write_off(single, 1, shipment, "1")
    # W7: declared within validity, released after expiry.
    late = book.certificate("SG-C-001", grade="C", valid_until=date(2016, 6, 9))
    book.write_off(late, 0, book.declaration(late, "DECL-005"), "10", at=MORNING + timedelta(days=30))
    follow = book.certificate("SG-B-002", follow_up=True)
    book.write_off(follow, 0, book.declaration(follow, "DECL-006", state="follow_up_pending"), "1")
    book.write_off(follow, 0, book.declaration(follow, "DECL-007", alerted=True), "1")
    withdrawn = book.certificate("SG-B-003")
    book.write_off(withdrawn, 0, book.declaration(withdrawn, "DECL-008"), "2")
    book.close(withdrawn, "withdraw", "withdrawn", MORNING + timedelta(days=1))


def test_a_clean_ledger_passes_every_w13_rule_with_balances_matching_the_ledger(book: Book) -> None:
    build_clean_ledger(book)
    result = book.audit()
    assert result.violations == ()
    assert result.ok and all(line.ok for line in result.lines)
    by_line = {(line.certificate_no, line.line_no): line for line in result.lines}
    assert len(by_line) == 7
    first = by_line[("SG-B-001", 1)]
    assert (first.approved, first.committed, first.reserved, first.remaining) == (
        Decimal("10"),
        Decimal("6"),
        Decimal("2.25"),
        Decimal("1.75"),
    )
    assert (first.derived_committed, first.derived_reserved) == (first.committed, first.reserved)
    assert by_line[("SG-B-001", 2)].remaining == 0


def test_a_single_use_certificate_may_be_written_off_again_once_the_first_commit_is_fully_reversed_w13_ii(
    book: Book,
) -> None:
    cert = book.certificate("SG-A-001", grade="A")
    commit = book.write_off(cert, 0, book.declaration(cert, "DECL-001"), "4")
    book.reverse(cert, 0, commit, "4", approver=book.decider)
    book.write_off(cert, 0, book.declaration(cert, "DECL-002"), "6")
    assert book.audit().ok


# --- one fault each ------------------------------------------------------------------------------------------


def test_a_balance_altered_directly_in_the_database_is_detected_as_balance(
    book: Book, released: tuple[Cert, int]
) -> None:
    cert, declaration = released
    book.write_off(cert, 0, declaration, "4")
    # Raw SQL sees the stored integers: ten-thousandths of the certificate unit.
    book.sql("UPDATE certificate_lines SET committed_qty = 30000 WHERE id = :id", id=cert.line_ids[0])
    result = book.audit()
    assert rules(result) == {"balance"}
    (violation,) = result.violations
    assert (violation.certificate_no, violation.line_no) == ("SG-B-001", 1)
    assert "stored committed 3" in violation.detail and "ledger gives 4" in violation.detail
    assert [line.ok for line in result.lines] == [False, True]


def test_a_reserved_balance_altered_directly_is_detected_as_balance(book: Book, released: tuple[Cert, int]) -> None:
    cert, declaration = released
    book.reserve(cert, 1, declaration, "2")
    book.sql("UPDATE certificate_lines SET reserved_qty = 0 WHERE id = :id", id=cert.line_ids[1])
    assert rules(book.audit()) == {"balance"}


def test_a_ledger_drawing_more_than_the_approved_quantity_is_an_over_draw_w13_i(
    book: Book, released: tuple[Cert, int]
) -> None:
    cert, declaration = released
    book.write_off(cert, 0, declaration, "10")
    # A commit slipped into the ledger past the guarded UPDATE (the CHECK constraint keeps the balance at 10).
    with book.session() as session, session.begin():
        book.entry(session, cert, 0, declaration, "commit", "2", MORNING + timedelta(hours=2))
    result = book.audit()
    assert rules(result) == {"W13.i", "balance"}
    (over,) = [violation for violation in result.violations if violation.rule == "W13.i"]
    assert over.line_no == 1 and "ledger: committed 12" in over.detail


def test_two_net_commits_on_a_single_use_certificate_break_w13_ii(book: Book) -> None:
    cert = book.certificate("SG-A-001", grade="A", approved=("10", "10"))
    book.write_off(cert, 0, book.declaration(cert, "DECL-001"), "4")
    book.write_off(cert, 1, book.declaration(cert, "DECL-002"), "4")
    result = book.audit()
    assert rules(result) == {"W13.ii"}
    (violation,) = result.violations
    assert violation.line_no is None and "2 write-offs" in violation.detail
    assert not any(line.ok for line in result.lines)


def test_a_partly_reversed_commit_still_counts_on_a_single_use_certificate_w13_ii(book: Book) -> None:
    cert = book.certificate("SG-A-001", grade="A")
    commit = book.write_off(cert, 0, book.declaration(cert, "DECL-001"), "4")
    book.reverse(cert, 0, commit, "3", approver=book.decider)
    book.write_off(cert, 0, book.declaration(cert, "DECL-002"), "4")
    assert rules(book.audit()) == {"W13.ii"}


def test_a_commit_for_a_declaration_dated_after_valid_until_breaks_w13_iii(book: Book) -> None:
    cert = book.certificate("SG-B-001")
    late = book.declaration(cert, "DECL-LATE", declared_on=VALID_UNTIL + timedelta(days=1))
    book.write_off(cert, 0, late, "1", at=datetime(2016, 12, 2, 9, 0))
    result = book.audit()
    assert rules(result) == {"W13.iii"}
    assert "DECL-LATE dated 2016-12-01" in result.violations[0].detail


def test_a_commit_after_the_certificate_was_revoked_breaks_w13_iv(book: Book, released: tuple[Cert, int]) -> None:
    cert, declaration = released
    book.write_off(cert, 0, declaration, "1")
    book.close(cert, "revoke", "revoked", MORNING + timedelta(days=1))
    book.write_off(cert, 1, declaration, "1", at=MORNING + timedelta(days=1, seconds=1))
    result = book.audit()
    assert rules(result) == {"W13.iv"}
    assert result.violations[0].line_no == 2


@pytest.mark.parametrize("state", ["rejected", "inspection", "withdrawn", "disposal_ordered"])
def test_a_commit_whose_declaration_was_never_released_breaks_w13_v(book: Book, state: str) -> None:
    cert = book.certificate("SG-B-001")
    book.write_off(cert, 0, book.declaration(cert, "DECL-001", state=state), "1")
    result = book.audit()
    assert rules(result) == {"W13.v"}
    assert f"is {state}, never released" in result.violations[0].detail


def test_a_reversal_approved_by_its_own_requester_breaks_w13_vi(book: Book, released: tuple[Cert, int]) -> None:
    cert, declaration = released
    commit = book.write_off(cert, 0, declaration, "4")
    book.reverse(cert, 0, commit, "1", approver=book.port_officer)
    result = book.audit()
    assert rules(result) == {"W13.vi"}
    assert "same user" in result.violations[0].detail


@pytest.mark.parametrize(
    "fault", ["W13.vi-no-approver", "W13.vi-reverses-a-reservation", "W13.vi-reverses-another-line"]
)
def test_a_reversal_without_two_people_or_a_commit_of_its_line_breaks_w13_vi(
    book: Book, released: tuple[Cert, int], fault: str
) -> None:
    cert, declaration = released
    commit = book.write_off(cert, 0, declaration, "4")
    other = book.write_off(cert, 1, declaration, "4")
    reservation = book.reserve(cert, 0, declaration, "1")
    target, approver = {
        "W13.vi-no-approver": (commit, None),
        "W13.vi-reverses-a-reservation": (reservation, book.decider),
        "W13.vi-reverses-another-line": (other, book.decider),
    }[fault]
    book.reverse(cert, 0, target, "1", approver=approver)
    assert rules(book.audit()) == {"W13.vi"}


def test_a_released_follow_up_declaration_neither_pending_nor_alerted_breaks_w13_vii(book: Book) -> None:
    cert = book.certificate("SG-B-001", follow_up=True)
    book.write_off(cert, 0, book.declaration(cert, "DECL-001"), "1")
    result = book.audit()
    assert rules(result) == {"W13.vii"}
    assert "DECL-001 is released" in result.violations[0].detail


# --- scope and scale -----------------------------------------------------------------------------------------


def test_the_certificate_option_checks_that_certificate_only(book: Book, released: tuple[Cert, int]) -> None:
    cert, declaration = released
    book.write_off(cert, 0, declaration, "4")
    faulty = book.certificate("SG-B-002")
    book.write_off(faulty, 0, book.declaration(faulty, "DECL-BAD", state="rejected"), "1")
    clean = book.audit("SG-B-001")
    assert clean.ok and {line.certificate_no for line in clean.lines} == {"SG-B-001"}
    assert len(clean.lines) == 2 and clean.lines[0].derived_committed == 4
    flagged = book.audit("SG-B-002")
    assert rules(flagged) == {"W13.v"} and {line.certificate_no for line in flagged.lines} == {"SG-B-002"}
    assert rules(book.audit()) == {"W13.v"}


def test_the_audit_runs_a_fixed_number_of_queries_however_many_lines_it_checks(book: Book) -> None:
    def statements() -> int:
        seen: list[str] = []

        def count(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            seen.append(statement)

        event.listen(book.container.engine, "before_cursor_execute", count)
        try:
            book.audit()
        finally:
            event.remove(book.container.engine, "before_cursor_execute", count)
        return len(seen)

    cert = book.certificate("SG-B-001")
    book.write_off(cert, 0, book.declaration(cert, "DECL-001"), "1")
    few = statements()
    for number in range(2, 12):
        cert = book.certificate(f"SG-B-{number:03}", approved=("10", "10", "10"))
        declaration = book.declaration(cert, f"DECL-{number:03}")
        for line in range(3):
            book.write_off(cert, line, declaration, "1")
    assert statements() == few
    assert few <= 8


def test_a_ledger_of_a_hundred_thousand_entries_is_audited_in_one_pass(book: Book) -> None:
    cert = book.certificate("SG-B-BIG", approved=("100000",) * 10)
    declaration = book.declaration(cert, "DECL-BIG")
    rows = [
        {
            "certificate_id": cert.id,
            "certificate_line_id": line_id,
            "declaration_id": declaration,
            "kind": kind,
            "qty": Decimal("0.5"),
            "unit": cert.unit,
            "actor_role": "port_officer",
            "at": MORNING,
        }
        for line_id in cert.line_ids
        for _ in range(5_000)
        for kind in ("reserve", "commit")
    ]
    with book.session() as session, session.begin():
        session.execute(insert(LedgerEntryRow), rows)
        session.execute(update(CertificateLineRow).values(committed_qty=Decimal("2500")))
    result = book.audit()
    assert result.ok, result.violations[:3]
    assert {line.derived_committed for line in result.lines} == {Decimal("2500")}
    book.sql("UPDATE certificate_lines SET committed_qty = committed_qty - 1 WHERE id = :id", id=cert.line_ids[9])
    assert [(v.rule, v.line_no) for v in book.audit().violations] == [("balance", 10)]


# --- the command line ----------------------------------------------------------------------------------------


def run_cli(args: list[str], database_url: str, instance: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SPECGOODS_")}
    environment |= {"SPECGOODS_DATABASE_URL": database_url, "SPECGOODS_INSTANCE_PATH": str(instance)}
    return subprocess.run(
        [sys.executable, "-m", "cli", "audit", "ledger", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    return lambda *args: run_cli(list(args), database_url, tmp_path)


def test_the_command_exits_0_and_prints_each_line_on_a_clean_ledger(book: Book, cli: Cli) -> None:
    build_clean_ledger(book)
    result = cli()
    assert result.returncode == 0, result.stderr
    assert "SG-B-001" in result.stdout and "SG-A-001" in result.stdout
    assert "ledger OK: 7 lines checked" in result.stdout
    assert "violation" not in result.stdout


def test_the_command_exits_1_and_lists_the_violation_by_rule_id_w13_v(book: Book, cli: Cli) -> None:
    cert = book.certificate("SG-B-001")
    book.write_off(cert, 0, book.declaration(cert, "DECL-[bad]", state="rejected"), "1")
    result = cli()
    assert result.returncode == 1, result.stderr
    assert "W13.v" in result.stdout and "DECL-[bad]" in result.stdout
    assert "1 violation(s) in 1 lines" in result.stdout


def test_json_output_parses_with_ok_false_and_exit_1_on_a_violation_w13_vi(
    book: Book, released: tuple[Cert, int], cli: Cli
) -> None:
    cert, declaration = released
    commit = book.write_off(cert, 1, declaration, "5.5")
    book.reverse(cert, 1, commit, "0.25", approver=book.port_officer)
    result = cli("--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [violation["rule"] for violation in report["violations"]] == ["W13.vi"]
    second = report["lines"][1]
    assert second == {
        "certificate_no": "SG-B-001",
        "line_no": 2,
        "unit": "支",
        "approved": "5.5",
        "committed": "5.25",
        "reserved": "0",
        "remaining": "0.25",
        "derived_committed": "5.25",
        "derived_reserved": "0",
        "ok": False,
    }


def test_json_output_with_the_certificate_option_covers_that_certificate_only(book: Book, cli: Cli) -> None:
    build_clean_ledger(book)
    faulty = book.certificate("SG-B-BAD")
    book.write_off(faulty, 0, book.declaration(faulty, "DECL-BAD", state="rejected"), "1")
    result = cli("--certificate", "SG-A-001", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["violations"] == []
    assert [(line["certificate_no"], line["line_no"]) for line in report["lines"]] == [("SG-A-001", 1), ("SG-A-001", 2)]
    assert cli("--certificate", "SG-B-BAD", "--json").returncode == 1


def test_an_unknown_certificate_is_one_line_on_stderr_and_exit_2(cli: Cli) -> None:
    result = cli("--certificate", "SG-NOPE")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["specgoods: error: certificate: no certificate SG-NOPE"]
    assert result.stdout == ""
