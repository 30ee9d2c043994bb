"""The auditor's check: re-derive every line's balances from the append-only ledger and test the W13 invariants.

Each rule is one set-based query that returns only the offending rows, so the check costs a fixed handful of
statements however long the ledger grows; the stored balances are compared with the ledger, never trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeAlias

from sqlalchemy import Row, Select, and_, distinct, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from workflow.domain.errors import InvalidInput
from workflow.domain.goods import RiskGrade, WriteOffMode
from workflow.domain.ledger import EntryKind
from workflow.domain.lifecycle import CertState, DeclState
from workflow.store.tables import (
    QUANTITY_SCALE,
    AuditEventRow,
    CertificateLineRow,
    CertificateRow,
    DeclarationRow,
    LedgerEntryRow,
)

FOLLOW_UP_STATES = (DeclState.FOLLOW_UP_PENDING, DeclState.FOLLOW_UP_PASSED, DeclState.FOLLOW_UP_FAILED)
RELEASED_STATES = (DeclState.RELEASED, *FOLLOW_UP_STATES)
CLOSED_CERTIFICATE_STATES = (CertState.WITHDRAWN, CertState.REVOKED, CertState.CANCELLED)
AnySelect: TypeAlias = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class Violation:
    """One broken invariant; `line_no` is None when the rule is about the certificate as a whole (W13.ii)."""

    rule: str
    certificate_no: str
    line_no: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "certificate_no": self.certificate_no,
            "line_no": self.line_no,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class LineAudit:
    """A certificate line's stored balances beside the ones the ledger gives."""

    certificate_no: str
    line_no: int
    unit: str
    approved: Decimal
    committed: Decimal
    reserved: Decimal
    derived_committed: Decimal
    derived_reserved: Decimal
    ok: bool = True

    @property
    def remaining(self) -> Decimal:
        return _as_stored(self.approved - self.committed - self.reserved)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: quantities as strings, so no reader ever rounds them through a float."""
        quantities = {
            "approved": self.approved,
            "committed": self.committed,
            "reserved": self.reserved,
            "remaining": self.remaining,
            "derived_committed": self.derived_committed,
            "derived_reserved": self.derived_reserved,
        }
        return {
            "certificate_no": self.certificate_no,
            "line_no": self.line_no,
            "unit": self.unit,
            **{name: str(value) for name, value in quantities.items()},
            "ok": self.ok,
        }


@dataclass(frozen=True)
class LedgerAudit:
    lines: tuple[LineAudit, ...]
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": [line.as_dict() for line in self.lines],
            "violations": [violation.as_dict() for violation in self.violations],
            "ok": self.ok,
        }


def audit_ledger(session: Session, certificate_no: str | None = None) -> LedgerAudit:
    """Check every certificate, or only `certificate_no` (InvalidInput when there is no such certificate)."""
    scope = _certificate_id(session, certificate_no) if certificate_no is not None else None
    lines = _line_audits(session, scope)
    violations = [
        *_balance_violations(lines),
        *_quota_violations(lines),
        *_single_use_violations(session, scope),
        *_late_declaration_violations(session, scope),
        *_after_closure_violations(session, scope),
        *_unreleased_violations(session, scope),
        *_reversal_violations(session, scope),
        *_follow_up_violations(session, scope),
    ]
    return LedgerAudit(_mark_lines(lines, violations), tuple(violations))


def _certificate_id(session: Session, certificate_no: str) -> int:
    found = session.scalar(select(CertificateRow.id).where(CertificateRow.certificate_no == certificate_no))
    if found is None:
        raise InvalidInput(f"no certificate {certificate_no}", field="certificate")
    return found


def _scoped(query: AnySelect, scope: int | None) -> AnySelect:
    return query if scope is None else query.where(CertificateRow.id == scope)


def _mark_lines(lines: Sequence[LineAudit], violations: Iterable[Violation]) -> tuple[LineAudit, ...]:
    """A line is flagged by a violation naming it, or naming its whole certificate."""
    flagged = {(violation.certificate_no, violation.line_no) for violation in violations}
    return tuple(
        replace(line, ok=not flagged & {(line.certificate_no, line.line_no), (line.certificate_no, None)})
        for line in lines
    )


# --- balances and quota (balance, W13.i) -------------------------------------------------------------------


def _kind_total(kind: EntryKind) -> ColumnElement[Decimal]:
    return func.sum(LedgerEntryRow.qty).filter(LedgerEntryRow.kind == kind).label(kind.value)


def _line_audits(session: Session, scope: int | None) -> list[LineAudit]:
    totals = select(
        LedgerEntryRow.certificate_line_id.label("line_id"), *(_kind_total(kind) for kind in EntryKind)
    ).group_by(LedgerEntryRow.certificate_line_id)
    if scope is not None:
        # Aggregate only this certificate's lines rather than the whole ledger.
        lines_in_scope = select(CertificateLineRow.id).where(CertificateLineRow.certificate_id == scope)
        totals = totals.where(LedgerEntryRow.certificate_line_id.in_(lines_in_scope))
    summed = totals.subquery()
    query = (
        select(CertificateRow.certificate_no, CertificateLineRow, *(summed.c[kind.value] for kind in EntryKind))
        .select_from(CertificateLineRow)
        .join(CertificateRow, CertificateLineRow.certificate_id == CertificateRow.id)
        .outerjoin(summed, summed.c.line_id == CertificateLineRow.id)
        .order_by(CertificateRow.certificate_no, CertificateLineRow.line_no)
    )
    return [_line_audit(row) for row in session.execute(_scoped(query, scope))]


def _line_audit(row: Row[Any]) -> LineAudit:
    line: CertificateLineRow = row.CertificateLineRow
    total = {kind: row._mapping[kind.value] or Decimal(0) for kind in EntryKind}
    return LineAudit(
        certificate_no=row.certificate_no,
        line_no=line.line_no,
        unit=line.unit,
        approved=line.approved_qty,
        committed=line.committed_qty,
        reserved=line.reserved_qty,
        derived_committed=_as_stored(total[EntryKind.COMMIT] - total[EntryKind.REVERSE]),
        # Every commit consumes the reservation made for it, so commits leave the reserved balance too.
        derived_reserved=_as_stored(total[EntryKind.RESERVE] - total[EntryKind.RELEASE] - total[EntryKind.COMMIT]),
    )


def _as_stored(value: Decimal) -> Decimal:
    """The form a stored quantity reads back in, so a computed 5.5 - 5.5 prints as 0 like a stored 0, not 0.0."""
    return (value * QUANTITY_SCALE).to_integral_value() / QUANTITY_SCALE


def _balance_violations(lines: Iterable[LineAudit]) -> Iterable[Violation]:
    for line in lines:
        if (line.committed, line.reserved) != (line.derived_committed, line.derived_reserved):
            yield Violation(
                "balance",
                line.certificate_no,
                line.line_no,
                f"stored committed {line.committed} / reserved {line.reserved}, "
                f"but the ledger gives {line.derived_committed} / {line.derived_reserved}",
            )


def _quota_violations(lines: Iterable[LineAudit]) -> Iterable[Violation]:
    # The stored balances are checked too: CHECK constraints can be dropped, the auditor trusts neither side.
    for line in lines:
        for source, committed, reserved in (
            ("ledger", line.derived_committed, line.derived_reserved),
            ("stored", line.committed, line.reserved),
        ):
            if committed < 0 or reserved < 0 or committed + reserved > line.approved:
                yield Violation(
                    "W13.i",
                    line.certificate_no,
                    line.line_no,
                    f"{source}: committed {committed} + reserved {reserved}, approved {line.approved} {line.unit}",
                )


# --- commits (W13.ii–v, vii) -----------------------------------------------------------------------------------


def _commits(*columns: Any) -> AnySelect:
    """Commit entries with their line, certificate and (possibly missing) declaration, plus `columns`."""
    return (
        select(
            CertificateRow.certificate_no,
            CertificateLineRow.line_no,
            LedgerEntryRow.id.label("entry_id"),
            DeclarationRow.declaration_no,
            *columns,
        )
        .select_from(LedgerEntryRow)
        .join(CertificateLineRow, LedgerEntryRow.certificate_line_id == CertificateLineRow.id)
        .join(CertificateRow, CertificateLineRow.certificate_id == CertificateRow.id)
        .outerjoin(DeclarationRow, LedgerEntryRow.declaration_id == DeclarationRow.id)
        .where(LedgerEntryRow.kind == EntryKind.COMMIT)
        .order_by(CertificateRow.certificate_no, CertificateLineRow.line_no, LedgerEntryRow.id)
    )


def _commit_violations(session: Session, rule: str, query: AnySelect, scope: int | None, why: str) -> list[Violation]:
    """`why` is formatted with each offending row's columns."""
    return [
        Violation(rule, row.certificate_no, row.line_no, f"commit #{row.entry_id}: " + why.format(**row._asdict()))
        for row in session.execute(_scoped(query, scope))
    ]


def _single_use_violations(session: Session, scope: int | None) -> list[Violation]:
    """W13.ii: a single-use certificate is written off by one declaration, whatever lines it draws on."""
    reversed_qty = (
        select(LedgerEntryRow.reverses_entry_id.label("commit_id"), func.sum(LedgerEntryRow.qty).label("qty"))
        .where(LedgerEntryRow.kind == EntryKind.REVERSE)
        .group_by(LedgerEntryRow.reverses_entry_id)
        .subquery()
    )
    # A commit without a declaration counts as a write-off of its own (W13.v reports it as well).
    write_off = func.coalesce(LedgerEntryRow.declaration_id, -LedgerEntryRow.id)
    write_offs = func.count(distinct(write_off))
    query = (
        select(CertificateRow.certificate_no, CertificateRow.grade, write_offs.label("write_offs"))
        .select_from(LedgerEntryRow)
        .join(CertificateLineRow, LedgerEntryRow.certificate_line_id == CertificateLineRow.id)
        .join(CertificateRow, CertificateLineRow.certificate_id == CertificateRow.id)
        .outerjoin(reversed_qty, reversed_qty.c.commit_id == LedgerEntryRow.id)
        .where(
            LedgerEntryRow.kind == EntryKind.COMMIT,
            LedgerEntryRow.qty > func.coalesce(reversed_qty.c.qty, 0),
            or_(CertificateRow.grade == RiskGrade.A, CertificateRow.write_off_mode == WriteOffMode.SINGLE),
        )
        .group_by(CertificateRow.id, CertificateRow.certificate_no, CertificateRow.grade)
        .having(write_offs > 1)
        .order_by(CertificateRow.certificate_no)
    )
    return [
        Violation(
            "W13.ii",
            row.certificate_no,
            None,
            f"single-use certificate (grade {row.grade}) has {row.write_offs} write-offs not fully reversed",
        )
        for row in session.execute(_scoped(query, scope))
    ]


def _late_declaration_violations(session: Session, scope: int | None) -> list[Violation]:
    """W13.iii (W7): the declaration must be dated within validity; a later release is fine."""
    query = _commits(DeclarationRow.declared_on, CertificateRow.valid_until).where(
        DeclarationRow.declared_on > CertificateRow.valid_until
    )
    why = "declaration {declaration_no} dated {declared_on}, after valid until {valid_until}"
    return _commit_violations(session, "W13.iii", query, scope, why)


def _after_closure_violations(session: Session, scope: int | None) -> list[Violation]:
    """W13.iv (W9): nothing is committed once the certificate is withdrawn, revoked or cancelled."""
    closed = (
        select(AuditEventRow.object_id.label("certificate_id"), func.min(AuditEventRow.at).label("closed_at"))
        .where(AuditEventRow.object_type == "certificate", AuditEventRow.to_state.in_(CLOSED_CERTIFICATE_STATES))
        .group_by(AuditEventRow.object_id)
        .subquery()
    )
    query = (
        _commits(LedgerEntryRow.at, closed.c.closed_at)
        .join(closed, closed.c.certificate_id == CertificateRow.id)
        .where(LedgerEntryRow.at > closed.c.closed_at)
    )
    why = "made at {at}, after the certificate was closed at {closed_at}"
    return _commit_violations(session, "W13.iv", query, scope, why)


def _unreleased_violations(session: Session, scope: int | None) -> list[Violation]:
    """W13.v: only a released declaration is written off."""
    query = _commits(DeclarationRow.state).where(
        or_(DeclarationRow.id.is_(None), DeclarationRow.state.not_in(RELEASED_STATES))
    )
    why = "declaration {declaration_no} is {state}, never released"
    return _commit_violations(session, "W13.v", query, scope, why)


def _follow_up_violations(session: Session, scope: int | None) -> list[Violation]:
    """W13.vii (R54): under follow-up, each written-off declaration awaits its report or has raised an alert."""
    query = _commits(DeclarationRow.state).where(
        CertificateRow.follow_up.is_(True),
        or_(
            DeclarationRow.id.is_(None),
            and_(DeclarationRow.state.not_in(FOLLOW_UP_STATES), DeclarationRow.follow_up_alerted_at.is_(None)),
        ),
    )
    why = "declaration {declaration_no} is {state}, with no follow-up record and no overdue alert"
    return _commit_violations(session, "W13.vii", query, scope, why)


# --- reversals (W13.vi) ----------------------------------------------------------------------------------------


def _reversal_violations(session: Session, scope: int | None) -> list[Violation]:
    """W13.vi (W10): two distinct people, and a link to a commit of the same line."""
    reversal, target = LedgerEntryRow, aliased(LedgerEntryRow)
    query = (
        select(
            CertificateRow.certificate_no,
            CertificateLineRow.line_no,
            reversal.id.label("entry_id"),
            reversal.actor_id,
            reversal.approver_id,
            reversal.reverses_entry_id,
            target.kind.label("target_kind"),
            (target.certificate_line_id == reversal.certificate_line_id).label("same_line"),
        )
        .select_from(reversal)
        .join(CertificateLineRow, reversal.certificate_line_id == CertificateLineRow.id)
        .join(CertificateRow, CertificateLineRow.certificate_id == CertificateRow.id)
        .outerjoin(target, target.id == reversal.reverses_entry_id)
        .where(
            reversal.kind == EntryKind.REVERSE,
            or_(
                reversal.actor_id.is_(None),
                reversal.approver_id.is_(None),
                reversal.actor_id == reversal.approver_id,
                target.id.is_(None),
                target.kind != EntryKind.COMMIT,
                target.certificate_line_id != reversal.certificate_line_id,
            ),
        )
        .order_by(CertificateRow.certificate_no, CertificateLineRow.line_no, reversal.id)
    )
    return [
        Violation("W13.vi", row.certificate_no, row.line_no, f"reversal #{row.entry_id}: {_reversal_fault(row)}")
        for row in session.execute(_scoped(query, scope))
    ]


def _reversal_fault(row: Row[Any]) -> str:
    faults = []
    if row.actor_id is None or row.approver_id is None:
        faults.append("requester or approver missing")
    elif row.actor_id == row.approver_id:
        faults.append(f"requested and approved by the same user #{row.actor_id}")
    if row.target_kind is None:
        faults.append(f"reverses no ledger entry (#{row.reverses_entry_id})")
    elif row.target_kind != EntryKind.COMMIT:
        faults.append(f"reverses #{row.reverses_entry_id}, a {row.target_kind} entry, not a commit")
    elif not row.same_line:
        faults.append(f"reverses commit #{row.reverses_entry_id} of another line")
    return "; ".join(faults)
