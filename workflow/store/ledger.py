"""The write-off ledger in SQL: one guarded statement per balance change, an append-only entry beside each.

PostgreSQL at READ COMMITTED re-checks a blocked UPDATE's WHERE clause against the newly committed row, so a
conditional UPDATE that checks its row count can neither over-draw nor lose an update (LIMITS.md). The certificate
row is locked first in every write-off transaction, which serialises the 'all lines used up' check (C3).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from workflow.domain.credit import CreditRecord
from workflow.domain.declaration import Declaration
from workflow.domain.errors import DuplicateRequest, NotFound, RetryableConflict
from workflow.domain.goods import Direction, RiskGrade, WriteOffMode
from workflow.domain.ledger import (
    CertificateFacts,
    Disposal,
    EntryKind,
    LedgerEntry,
    LineBalance,
    NewIds,
    Requested,
    Reversal,
    ReversalReason,
)
from workflow.domain.lifecycle import CertState, DeclState
from workflow.domain.local_days import EVERY_DISTRICT, DistrictScope
from workflow.domain.policy import CreditRegime, CreditTier
from workflow.store.bulk import insert_rows_returning_ids
from workflow.store.driver_statements import plain_rows
from workflow.store.repositories import (
    AuditTrail,
    SqlOutbox,
    _AggregateRepository,
    _guarded_update,
    in_scope,
    skip_locked,
)
from workflow.store.tables import (
    ApplicationRow,
    CertificateLineRow,
    CertificateRow,
    CreditRecordRow,
    DeclarationLineRow,
    DeclarationRow,
    IdempotencyKeyRow,
    LedgerEntryRow,
    PendingInspectionRow,
    Quantity,
    ReversalRow,
)
from workflow.store.together import Returning, TableRows, stage

Now = Callable[[], datetime]
CERTIFICATE_COLUMNS = (
    CertificateRow.id,
    CertificateRow.certificate_no,
    CertificateRow.grade,
    CertificateRow.enterprise_id,
    CertificateRow.district,
    CertificateRow.follow_up,
    CertificateRow.policy_id,
    CertificateRow.state,
    CertificateRow.hold,
    CertificateRow.direction,
    CertificateRow.write_off_mode,
    CertificateRow.valid_from,
    CertificateRow.valid_until,
    CertificateRow.open_uses,
)
_LINE = CertificateLineRow


class _JsonRows(FunctionElement[Any]):
    """The rows of a (sub)query as one JSON array of arrays: `json_agg` on PostgreSQL, `json_group_array` on SQLite."""

    inherit_cache = True


@compiles(_JsonRows, "postgresql")
def _json_rows_postgresql(element: _JsonRows, compiler: Any, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(_JsonRows, "sqlite")
def _json_rows_sqlite(element: _JsonRows, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


_CREDIT = CreditRecordRow
_HOLDER_CREDIT = (
    select(_JsonRows(_CREDIT.tier, _CREDIT.regime, _CREDIT.effective_from, _CREDIT.effective_to))
    .where(_CREDIT.enterprise_id == CertificateRow.enterprise_id)
    .scalar_subquery()
    .label("holder_credit")
)


def _credit_records(enterprise_id: int, found: Any) -> tuple[CreditRecord, ...]:
    """The JSON the subquery gave (a list from psycopg, text from SQLite; NULL for no record) as credit records."""
    rows = json.loads(found) if isinstance(found, str) else (found or [])
    return tuple(
        CreditRecord(
            enterprise_id,
            CreditTier(tier),
            CreditRegime(regime),
            date.fromisoformat(start[:10]),
            date.fromisoformat(end[:10]) if end else None,
        )
        for tier, regime, start, end in rows
    )


# The hot path's statements are built once with bind parameters, so each call is a compiled-cache hit instead of
# rebuilding the expression tree (which cost more client CPU than the round trips).
_CERTIFICATE_WITH_LINES = (
    select(
        *CERTIFICATE_COLUMNS,
        _LINE.id.label("line_id"),
        _LINE.line_no,
        _LINE.unit,
        _LINE.approved_qty,
        _LINE.committed_qty,
        _LINE.reserved_qty,
        ApplicationRow.ports,  # D2 matches a declaration's port against them (one row by primary key)
        _HOLDER_CREDIT,  # D3 reads the holder's credit history as of the declaration date: no statement of its own
        # E4: whether an inspection waits on the line, so the usual declaration skips reading pending inspections.
        exists()
        .where(
            PendingInspectionRow.certificate_line_id == _LINE.id,
            PendingInspectionRow.carried_qty < PendingInspectionRow.qty,
        )
        .label("inspection_pending"),
    )
    .join(_LINE, _LINE.certificate_id == CertificateRow.id)
    .join(ApplicationRow, ApplicationRow.id == CertificateRow.application_id)
)
# Everything but a declaration (port decisions, reversals, ending a certificate) locks it exclusively, by id.
_LOCK_BY_ID = _CERTIFICATE_WITH_LINES.where(CertificateRow.id == bindparam("key")).with_for_update(of=CertificateRow)
# A batch of declarations reads all its certificates at once, in number order (one lock order for every batch).
_SHARE_MANY = (
    _CERTIFICATE_WITH_LINES.where(CertificateRow.certificate_no.in_(bindparam("numbers", expanding=True)))
    .order_by(CertificateRow.certificate_no, _LINE.line_no)
    .with_for_update(read=True, of=CertificateRow)
)


def _new_ids(mapped: Any, count: str, dialect: str) -> Any:
    """Ids drawn ahead for rows a request may write, so every row it writes can go in one statement with its ids.

    PostgreSQL: an array of `count` values of the table's id sequence (uncorrelated, so evaluated once per
    statement; ids a request does not use are gaps, as a rollback leaves). SQLite: the table's highest id, the
    block starting after it — its writer holds the whole database from BEGIN IMMEDIATE, so no one else takes them.

    The rows to number come from `unnest(array_fill(0, ARRAY[count]))`, not `generate_series(1, count)`: the
    planner guesses 1,000 rows for a series whose end is a parameter, so the prepared statement's generic plan
    looked costlier than one planned for the actual count and the whole read was planned afresh on every
    declaration (a fifth of a millisecond of the server's CPU); an unnested parameter is guessed at 10 rows, close
    enough that the generic plan is kept (tests/integration/test_generic_plans.py).
    """
    table = mapped.__table__
    if dialect == "postgresql":
        sequence = func.pg_get_serial_sequence(literal(table.name), literal("id"))
        slots = func.unnest(func.array_fill(0, array([bindparam(count, type_=Integer)])))
        return select(func.array_agg(func.nextval(sequence))).select_from(slots).scalar_subquery()
    return select(func.coalesce(func.max(table.c.id), 0)).scalar_subquery()


# Ids for a declaration's rows, drawn in its certificate's read (per dialect) or, for a batch, in a read of their
# own: repeated on each row of a batch's read, the arrays would cost more to send than the round trip they save.
_ID_COLUMNS = {
    dialect: (
        _new_ids(DeclarationRow, "declarations", dialect).label("declaration_ids"),
        _new_ids(LedgerEntryRow, "entries", dialect).label("entry_ids"),
    )
    for dialect in ("postgresql", "sqlite")
}
# A declaration's one certificate by its number: on PostgreSQL the read runs on the driver's connection
# (workflow/store/driver_statements.py), which an expanding IN of one number would keep from it.
_SHARE_ONE_DRAWING_IDS = {
    dialect: _CERTIFICATE_WITH_LINES.add_columns(*columns)
    .where(CertificateRow.certificate_no == bindparam("number", type_=String))
    .order_by(_LINE.line_no)
    .with_for_update(read=True, of=CertificateRow)
    for dialect, columns in _ID_COLUMNS.items()
}
_DRAW_IDS = {dialect: select(*columns) for dialect, columns in _ID_COLUMNS.items()}


def _drawn(found: Any, count: int) -> Iterator[int]:
    """The ids the read drew: PostgreSQL's array as it is, SQLite's highest id as the `count` after it."""
    if isinstance(found, list):
        return iter(found)
    return iter(range(int(found) + 1, int(found) + 1 + count))


# A single line's draw, as one of the CTEs of the statement that writes its declaration's rows (PostgreSQL,
# workflow/store/together.py): what remains comes back, as of the lock it takes. `{written}` makes the statement's
# inserts run before it takes the line's lock, which then is held only for the commit.
_DRAW_ONE_TOGETHER = (
    "UPDATE certificate_lines SET reserved_qty = reserved_qty + CAST(:draw_reserve AS bigint), "
    "committed_qty = committed_qty + CAST(:draw_commit AS bigint) WHERE id = CAST(:draw_line AS bigint) AND "
    "approved_qty - committed_qty - reserved_qty >= CAST(:draw_reserve AS bigint) + CAST(:draw_commit AS bigint) "
    "AND {written} "
    "RETURNING approved_qty - committed_qty - reserved_qty AS remaining"
)


# PostgreSQL draws a batch in two statements whose text does not depend on its size. First the lines are locked in
# id order (the UPDATE's own row order is the planner's): two batches citing the same lines then queue instead of
# deadlocking. NO KEY UPDATE is the lock the UPDATE itself takes; it does not wait for the key-share locks that the
# batch's own declaration lines (foreign keys to certificate lines) leave on lines in another order.
# The ids pass through ARRAY(SELECT unnest(…)): the planner then sees an array of unknown length in every plan, so the
# statement's generic plan costs what a plan for its values costs and is kept (tests/integration/
# test_generic_plans.py); with the array itself a plan for two lines looked cheaper than the generic one's guess of
# ten, and each batch was planned afresh.
_LOCK_LINES_PG = text(
    "SELECT id FROM certificate_lines WHERE id = ANY(ARRAY(SELECT unnest(CAST(:ids AS bigint[])))) "
    "ORDER BY id FOR NO KEY UPDATE"
)
# The lines also as `l.id = ANY(:ids)`: joined only to the unnested arrays, the lines could be read whole (see
# together.py `_update_by_id`).
_DRAW_ARRAYS = (
    text(
        """
        UPDATE certificate_lines AS l
           SET reserved_qty = l.reserved_qty + d.reserve, committed_qty = l.committed_qty + d.commit
          FROM unnest(CAST(:ids AS bigint[]), CAST(:reserves AS bigint[]), CAST(:commits AS bigint[]))
               AS d (id, reserve, commit)
         WHERE l.id = ANY(CAST(:ids AS bigint[])) AND l.id = d.id
           AND l.approved_qty - l.committed_qty - l.reserved_qty >= d.reserve + d.commit
        RETURNING l.id, l.approved_qty - l.committed_qty - l.reserved_qty
        """
    )
    .bindparams(
        bindparam("ids", type_=ARRAY(BigInteger)),
        bindparam("reserves", type_=ARRAY(Quantity)),
        bindparam("commits", type_=ARRAY(Quantity)),
    )
    .columns(id=BigInteger, remaining=Quantity)
)
_REMAINING = _LINE.approved_qty - _LINE.committed_qty - _LINE.reserved_qty
_QTY = bindparam("qty", type_=_LINE.approved_qty.type)
_DRAW_COMMITTED = (
    update(_LINE)
    .where(_LINE.id == bindparam("line_id"), _REMAINING >= _QTY)
    .values(committed_qty=_LINE.committed_qty + _QTY)
    .returning(_REMAINING)
)
_DRAW_RESERVED = (
    update(_LINE)
    .where(_LINE.id == bindparam("line_id"), _REMAINING >= _QTY)
    .values(reserved_qty=_LINE.reserved_qty + _QTY)
    .returning(_REMAINING)
)
_LINE_BALANCES = (
    select(_LINE.line_no, _LINE.unit, _LINE.approved_qty, _LINE.committed_qty, _LINE.reserved_qty, _LINE.id)
    .where(_LINE.certificate_id == bindparam("certificate_id"))
    .order_by(_LINE.line_no)
)
# A declaration number is unique per enterprise: it is looked up only among its owner's declarations.
_FIND_DECLARATIONS = select(
    DeclarationRow.enterprise_id, DeclarationRow.declaration_no, DeclarationRow.id, DeclarationRow.request_hash
).where(
    DeclarationRow.declaration_no.in_(bindparam("numbers", expanding=True)),
    DeclarationRow.enterprise_id.in_(bindparam("enterprises", expanding=True)),
)
_KEY = select(IdempotencyKeyRow.request_hash, IdempotencyKeyRow.result, IdempotencyKeyRow.created_at).where(
    IdempotencyKeyRow.key == bindparam("key")
)
# Longer than any request may run (gunicorn's worker timeout is 30 s): a claim this old was abandoned, not running.
CLAIM_TIMEOUT = timedelta(minutes=2)
ZERO = Decimal(0)
OPEN_STATES = (
    DeclState.DECLARED,
    DeclState.DOC_CHECKED,
    DeclState.PORT_REVIEW,
    DeclState.INSPECTION,
    DeclState.LAB_HOLD,
)


class SqlLedger:
    """Balances and entries through Core statements on the session's connection (no ORM identity map here)."""

    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now

    def _execute(self, statement: Any, parameters: Any = None) -> Any:
        return self.session.connection().execute(statement, parameters)

    def lock_certificate_by_id(self, certificate_id: int) -> CertificateFacts:
        """The certificate and its lines in one round trip, under an exclusive lock on the certificate's row.

        Declarations hold it shared (`share_certificates`), so this waits for the write-offs in flight; SQLite
        already holds the write lock.
        """
        rows = self._execute(_LOCK_BY_ID, {"key": certificate_id}).all()
        if not rows:
            raise NotFound(f"no certificate {certificate_id}", field="certificate_id")
        return self._facts(rows)

    def share_certificates(self, numbers: Iterable[str]) -> dict[str, CertificateFacts]:
        """Declarations' certificates and their lines in one round trip, each under a shared lock (FOR SHARE).

        Write-offs run side by side while anything that ends or exhausts a certificate (FOR UPDATE) waits for them.
        Numbers not found are simply absent: the caller names the declaration that cited them.
        """
        rows = self._execute(_SHARE_MANY, {"numbers": sorted(set(numbers))}).all()
        return {number: self._facts(list(group)) for number, group in groupby(rows, key=lambda row: row.certificate_no)}

    def share_certificates_drawing_ids(
        self, numbers: Iterable[str], declarations: int, entries: int
    ) -> tuple[dict[str, CertificateFacts], NewIds]:
        """`share_certificates`, and the ids of up to `declarations` new declarations and `entries` ledger entries.

        A single certificate's read draws them itself: one round trip for both.
        """
        dialect, wanted = self.session.connection().dialect.name, sorted(set(numbers))
        counts = {"declarations": declarations, "entries": entries}
        if len(wanted) == 1:
            parameters = {"number": wanted[0], **counts}
            rows = plain_rows(self.session.connection(), _SHARE_ONE_DRAWING_IDS[dialect], parameters)
            if not rows:  # the request is refused as citing no certificate: nothing will be written
                return {}, NewIds(iter(()), iter(()))
            certificates, found = {wanted[0]: self._facts(rows)}, rows[0]
        else:
            certificates = self.share_certificates(wanted)
            [found] = plain_rows(self.session.connection(), _DRAW_IDS[dialect], counts)
        ids = NewIds(_drawn(found.declaration_ids, declarations), _drawn(found.entry_ids, entries))
        return certificates, ids

    @staticmethod
    def _facts(rows: Sequence[Any]) -> CertificateFacts:
        row = rows[0]
        balances = {
            r.line_no: LineBalance(
                r.line_no, r.unit, r.approved_qty, r.committed_qty, r.reserved_qty, r.line_id, r.inspection_pending
            )
            for r in rows
        }
        return CertificateFacts(
            id=row.id,
            certificate_no=row.certificate_no,
            grade=RiskGrade(row.grade),
            enterprise_id=row.enterprise_id,
            district=row.district,
            follow_up=row.follow_up,
            policy_id=row.policy_id,
            state=CertState(row.state),
            hold=row.hold,
            direction=Direction(row.direction),
            write_off_mode=WriteOffMode(row.write_off_mode),
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            open_uses=row.open_uses,
            lines=balances,
            ports=tuple(row.ports or ()),
            credit_records=_credit_records(row.enterprise_id, row.holder_credit),
        )

    def claim_single_use(self, certificate_id: int) -> bool:
        """W4: the one use of a single-use certificate; of two racing declarations exactly one gets it."""
        try:
            result = self._execute(
                update(CertificateRow)
                .where(CertificateRow.id == certificate_id, CertificateRow.open_uses == 0)
                .values(open_uses=CertificateRow.open_uses + 1)
            )
        except DBAPIError as error:
            raise_if_deadlock(error)
            raise
        return bool(result.rowcount == 1)

    def change_uses(self, certificate_id: int, delta: int) -> None:
        """A reservation given back on a single-use certificate frees its one use again."""
        self._execute(
            update(CertificateRow)
            .where(CertificateRow.id == certificate_id)
            .values(open_uses=CertificateRow.open_uses + delta)
        )

    def draw(self, line_id: int, qty: Decimal, commit: bool) -> Decimal | None:
        """D1 (+D6): reserve, or reserve and commit at once, only what remains, in ONE guarded statement.

        Returns the quantity left afterwards, or None when it was not there (nothing changed).
        """
        row = self._execute(_DRAW_COMMITTED if commit else _DRAW_RESERVED, {"line_id": line_id, "qty": qty}).first()
        return None if row is None else Decimal(row[0])

    def draw_many(self, changes: Mapping[int, tuple[Decimal, Decimal]]) -> dict[int, Decimal] | None:
        """D1 (+D6) for a batch: per line id, (quantity reserved, quantity reserved and committed at once).

        One guarded UPDATE for every line (a line's guard is its whole change), after the lines are locked in id
        order. Returns each line's quantity left, or None when any line lacked its change (nothing was changed).
        """
        if len(changes) == 1:
            ((line_id, (reserve, commit)),) = changes.items()
            if not (reserve and commit):  # the common single declaration: a prebuilt statement
                alone = self.draw(line_id, reserve or commit, commit=bool(commit))
                return None if alone is None else {line_id: alone}
        ids = sorted(changes)
        if self.session.connection().dialect.name == "postgresql":
            return self._draw_arrays(ids, changes)
        reserve = _per_line({line_id: change[0] for line_id, change in changes.items()})
        commit = _per_line({line_id: change[1] for line_id, change in changes.items()})
        statement = (
            update(_LINE)
            .where(_LINE.id.in_(ids), _REMAINING >= reserve + commit)  # noqa: SIM300 (the guard reads as the rule)
            .values(reserved_qty=_LINE.reserved_qty + reserve, committed_qty=_LINE.committed_qty + commit)
            .returning(_LINE.id, _REMAINING)
        )
        left = {line_id: Decimal(remaining) for line_id, remaining in self._execute(statement)}
        return left if len(left) == len(ids) else None

    def draw_together(self, changes: Mapping[int, tuple[Decimal, Decimal]]) -> Returning | None:
        """A single line's draw as a statement to go with the declaration's rows (PostgreSQL): see `drawn_together`.

        None where it is drawn on its own (`draw_many`): SQLite, or several lines, which are locked in id order first.
        """
        if len(changes) != 1 or self.session.connection().dialect.name != "postgresql":
            return None
        ((line_id, (reserve, commit)),) = changes.items()
        scaled = {"draw_reserve": Quantity.process_bind_param(reserve, None)}
        scaled["draw_commit"] = Quantity.process_bind_param(commit, None)
        return Returning(_DRAW_ONE_TOGETHER, {"draw_line": line_id, **scaled})

    def drawn_together(
        self, changes: Mapping[int, tuple[Decimal, Decimal]], row: Mapping[str, Any] | None
    ) -> dict[int, Decimal] | None:
        """What the draw left, as `draw_many` returns it."""
        if row is None:
            return None
        (line_id,) = changes
        return {line_id: Quantity.process_result_value(row["remaining"], None) or ZERO}

    def lock_lines(self, line_ids: Sequence[int]) -> None:
        """Lock certificate lines in id order (PostgreSQL; SQLite's writer already holds the whole database)."""
        if self.session.connection().dialect.name == "postgresql":
            self._execute(_LOCK_LINES_PG, {"ids": sorted(line_ids)})

    def _draw_arrays(self, ids: list[int], changes: Mapping[int, tuple[Decimal, Decimal]]) -> dict[int, Decimal] | None:
        """PostgreSQL: the lines locked in id order, then one UPDATE joined to the changes passed as three arrays.

        The statement's text does not grow with the batch, so it is parsed and planned once per connection.
        """
        self.lock_lines(ids)
        arrays = {"ids": ids, "reserves": [changes[i][0] for i in ids], "commits": [changes[i][1] for i in ids]}
        left = {line_id: remaining for line_id, remaining in self._execute(_DRAW_ARRAYS, arrays)}
        return left if len(left) == len(ids) else None

    def commit(self, line_id: int, qty: Decimal) -> bool:
        """D6: the reservation becomes a committed write-off at release."""
        line = CertificateLineRow
        return self._guarded(
            line_id,
            line.reserved_qty >= qty,
            reserved_qty=line.reserved_qty - qty,
            committed_qty=line.committed_qty + qty,
        )

    def release(self, line_id: int, qty: Decimal) -> bool:
        """D7/W9/W10: a reservation that will never be committed gives its quantity back."""
        line = CertificateLineRow
        return self._guarded(line_id, line.reserved_qty >= qty, reserved_qty=line.reserved_qty - qty)

    def reverse(self, line_id: int, qty: Decimal) -> bool:
        """W10: a committed write-off reversed by a negative entry."""
        line = CertificateLineRow
        return self._guarded(line_id, line.committed_qty >= qty, committed_qty=line.committed_qty - qty)

    def _guarded(self, line_id: int, condition: Any, **values: Any) -> bool:
        result = self._execute(
            update(CertificateLineRow).where(CertificateLineRow.id == line_id, condition).values(**values)
        )
        return bool(result.rowcount == 1)

    def line_balances(self, certificate_id: int) -> list[LineBalance]:
        """The certificate's lines as this transaction sees them, after its own changes (C3 decides on them)."""
        rows = self._execute(_LINE_BALANCES, {"certificate_id": certificate_id})
        return [LineBalance(*row) for row in rows]

    def append(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        """Insert the rows; their ids, in the order given (the receipt queue names the entries it holds)."""
        if not entries:
            return []
        return insert_rows_returning_ids(self.session.connection(), LedgerEntryRow, self.stamped(entries))

    def stamped(self, entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows as inserted: with the time they were written."""
        now = self.now()
        return [{"at": now, **entry} for entry in entries]

    def entry(self, entry_id: int) -> LedgerEntry:
        row = self.session.get(LedgerEntryRow, entry_id)
        if row is None:
            raise NotFound(f"no ledger entry {entry_id}", field="entry_id")
        return LedgerEntry(
            row.id,
            row.certificate_id,
            row.certificate_line_id,
            row.declaration_id,
            EntryKind(row.kind),
            row.qty,
            row.unit,
        )

    def pending_reversal_qty(self, commit_entry_id: int) -> Decimal:
        total = self.session.scalar(
            select(func.sum(ReversalRow.qty)).where(
                ReversalRow.commit_entry_id == commit_entry_id, ReversalRow.state == "requested"
            )
        )
        return total if total is not None else Decimal(0)

    def add_reversal(self, entry_id: int, qty: Decimal, reason_code: str, reason: str, requested_by: int) -> int:
        return (
            self.session.connection()
            .execute(
                insert(ReversalRow)
                .values(
                    commit_entry_id=entry_id,
                    qty=qty,
                    reason_code=reason_code,
                    reason=reason,
                    state="requested",
                    requested_by=requested_by,
                    requested_at=self.now(),
                )
                .returning(ReversalRow.id)
            )
            .scalar_one()
        )

    def reversal(self, reversal_id: int) -> Reversal:
        row = self.session.get(ReversalRow, reversal_id, populate_existing=True)
        if row is None:
            raise NotFound(f"no reversal {reversal_id}", field="reversal_id")
        return Reversal(
            row.id,
            row.commit_entry_id,
            row.qty,
            ReversalReason(row.reason_code),
            row.reason,
            row.state,
            row.requested_by,
        )

    def decide_reversal(self, reversal_id: int, state: str, decided_by: int | None) -> bool:
        """Only a still-requested reversal can be decided: of two concurrent deciders exactly one wins."""
        result = self.session.connection().execute(
            update(ReversalRow)
            .where(ReversalRow.id == reversal_id, ReversalRow.state == "requested")
            .values(state=state, decided_by=decided_by, decided_at=self.now())
        )
        return bool(result.rowcount == 1)

    def expiring(self, today: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 500) -> list[int]:
        """C4: active certificates past validity, skipping rows another sweep holds (safe to run twice at once)."""
        query = (
            select(CertificateRow.id)
            .where(
                CertificateRow.state == CertState.ACTIVE.value,
                CertificateRow.valid_until < today,
                in_scope(CertificateRow.district, scope),
            )
            .limit(limit)
        )
        return list(self.session.scalars(skip_locked(self.session, query)))

    def used_up(self, limit: int = 500) -> list[int]:
        """C3 candidates: active certificates with every line used up, or single-use ones with a write-off (W4).

        Used up is nothing remaining AND nothing reserved. The caller re-decides each one under its lock.
        """
        line = CertificateLineRow
        every_line_used_up = and_(func.max(_REMAINING) == 0, func.max(line.reserved_qty) == 0)
        single_use_written_off = and_(
            CertificateRow.write_off_mode == WriteOffMode.SINGLE.value, func.max(line.committed_qty) > 0
        )
        query = (
            select(CertificateRow.id)
            .join(line, line.certificate_id == CertificateRow.id)
            .where(CertificateRow.state == CertState.ACTIVE.value)
            .group_by(CertificateRow.id, CertificateRow.write_off_mode)
            .having(or_(every_line_used_up, single_use_written_off))
            .limit(limit)
        )
        return list(self.session.connection().execute(query).scalars())

    def overdue_follow_ups(self, today: date, scope: DistrictScope = EVERY_DISTRICT, limit: int = 500) -> list[int]:
        """R54: declarations whose follow-up report is past due and not yet alerted."""
        query = (
            select(DeclarationRow.id)
            .where(
                DeclarationRow.state == DeclState.FOLLOW_UP_PENDING.value,
                DeclarationRow.follow_up_due_on < today,
                DeclarationRow.follow_up_alerted_at.is_(None),
                in_scope(DeclarationRow.district, scope),
            )
            .limit(limit)
        )
        return list(self.session.scalars(skip_locked(self.session, query)))

    def mark_alerted(self, declaration_id: int) -> None:
        self.session.connection().execute(
            update(DeclarationRow).where(DeclarationRow.id == declaration_id).values(follow_up_alerted_at=self.now())
        )

    def reversed_qty(self, commit_entry_id: int) -> Decimal:
        total = self.session.scalar(
            select(func.sum(LedgerEntryRow.qty)).where(LedgerEntryRow.reverses_entry_id == commit_entry_id)
        )
        return total if total is not None else Decimal(0)

    def open_declarations(self, certificate_id: int) -> list[int]:
        return list(
            self.session.scalars(
                select(DeclarationRow.id).where(
                    DeclarationRow.certificate_id == certificate_id,
                    DeclarationRow.state.in_([state.value for state in OPEN_STATES]),
                )
            )
        )


def _per_line(quantities: Mapping[int, Decimal]) -> Any:
    """CASE id WHEN … THEN qty: a line's own quantity inside a statement that changes many lines."""
    whens = {line_id: literal(qty, _QTY.type) for line_id, qty in quantities.items() if qty}
    return case(whens, value=_LINE.id, else_=literal(ZERO, _QTY.type)) if whens else literal(ZERO, _QTY.type)


def raise_if_deadlock(error: DBAPIError) -> None:
    """PostgreSQL broke a lock cycle: the request runs again from the start.

    Two single-use claims upgrading shared locks, or two batches taking their lines' pending inspections in
    different orders.
    """
    if getattr(error.orig, "sqlstate", None) == "40P01":
        raise RetryableConflict("a concurrent declaration held what this one needed; retrying") from error


class SqlDeclarations(_AggregateRepository):
    object_type = "declaration"

    def __init__(self, session: Session, audit: AuditTrail, outbox: SqlOutbox, now: Now) -> None:
        super().__init__(session, audit, outbox, now)

    def find_many(self, owned_numbers: Sequence[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str]]:
        """The id and request hash of each declaration its enterprise already filed under one of these numbers.

        The natural key is (enterprise, number): another enterprise's declaration under the same number is not found.
        """
        wanted = set(owned_numbers)
        parameters = {"numbers": [n for _, n in wanted], "enterprises": sorted({e for e, _ in wanted})}
        rows = self.session.connection().execute(_FIND_DECLARATIONS, parameters)
        found = {(enterprise, number): (declaration_id, digest) for enterprise, number, declaration_id, digest in rows}
        return {owned: found[owned] for owned in wanted if owned in found}

    def add_many(
        self, filings: Sequence[tuple[Declaration, Mapping[int, int], str]], created_by: int | None, ids: NewIds
    ) -> None:
        """Declarations, each with its certificate-line ids and request hash, and their lines, given their ids now.

        They are written with the request's ledger entries and audit events (`SqlUnitOfWork.write_declared`).

        A number its enterprise already filed fails that write on the unique key (DuplicateRequest), and the request
        runs again, looking numbers up first.
        """
        stamp = {"created_by": created_by, "created_at": self.now()}
        for declaration, _, _ in filings:
            declaration.id = next(ids.declarations)
        rows = [
            {**self._columns(d), **stamp, "id": d.id, "request_hash": h, "declaration_no": d.declaration_no}
            for d, _, h in filings
        ]
        lines = [
            {
                "declaration_id": declaration.id,
                "certificate_line_id": line_ids[item.line_no],
                "line_no": item.line_no,
                "requested_qty": item.qty,
                "drawn_qty": declaration.drawn.get(item.line_no, ZERO),
            }
            for declaration, line_ids, _ in filings
            for item in declaration.lines
        ]
        stage(self.session, TableRows(DeclarationRow, rows))
        stage(self.session, TableRows(DeclarationLineRow, lines))
        for declaration, _, _ in filings:
            self._flush_pending(declaration, declaration.declaration_no)

    def get(self, declaration_id: int) -> Declaration:
        row = self.session.get(DeclarationRow, declaration_id, populate_existing=True)
        if row is None:
            raise NotFound(f"no declaration {declaration_id}", field="declaration_id")
        lines = self.session.scalars(
            select(DeclarationLineRow)
            .where(DeclarationLineRow.declaration_id == row.id)
            .order_by(DeclarationLineRow.line_no)
            .execution_options(populate_existing=True)
        ).all()
        return Declaration(
            id=row.id,
            state=DeclState(row.state),
            version=row.version,
            policy_id=row.policy_id,
            declaration_no=row.declaration_no,
            certificate_id=row.certificate_id,
            enterprise_id=row.enterprise_id,
            district=row.district,
            port=row.port,
            declared_on=row.declared_on,
            lines=[Requested(line.line_no, line.requested_qty) for line in lines],
            drawn={line.line_no: line.drawn_qty for line in lines if line.drawn_qty},
            hold_reason=row.hold_reason,
            route=row.route,
            disposal=Disposal(row.disposal) if row.disposal else None,
            released_on=row.released_on,
            follow_up_due_on=row.follow_up_due_on,
        )

    def set_drawn(self, declaration_id: int, drawn: dict[int, Decimal]) -> None:
        for line_no, qty in drawn.items():
            self.session.connection().execute(
                update(DeclarationLineRow)
                .where(DeclarationLineRow.declaration_id == declaration_id, DeclarationLineRow.line_no == line_no)
                .values(drawn_qty=qty)
            )

    def save(self, declaration: Declaration) -> None:
        _guarded_update(self.session, DeclarationRow, declaration, self._columns(declaration))
        self.set_drawn(declaration.id or 0, declaration.drawn)
        self._flush_pending(declaration, declaration.declaration_no)

    @staticmethod
    def _columns(d: Declaration) -> dict[str, Any]:
        return {
            "certificate_id": d.certificate_id,
            "enterprise_id": d.enterprise_id,
            "district": d.district,
            "port": d.port,
            "declared_on": d.declared_on,
            "state": str(d.state),
            "hold_reason": d.hold_reason,
            "route": d.route,
            "disposal": d.disposal.value if d.disposal else None,
            "released_on": d.released_on,
            "follow_up_due_on": d.follow_up_due_on,
            "policy_id": d.policy_id,
        }


class SqlIdempotency:
    """Idempotency keys stored in the transaction that produced their result: a replay writes nothing.

    A key is claimed and given its result in one transaction, so a committed claim without a result is one that an
    earlier release's two-transaction API door left behind when its process died; past CLAIM_TIMEOUT it is released.
    """

    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now

    def replay(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """The stored (request hash, result), or None when the key is free (never used, or its claim abandoned)."""
        row = self.session.connection().execute(_KEY, {"key": key}).first()
        if row is None:
            return None
        if not row.result and row.created_at < self.now() - CLAIM_TIMEOUT:
            self.session.connection().execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key))
            return None
        return row.request_hash, row.result

    def claim(self, key: str, actor_id: int | None, request_hash: str) -> None:
        """Taken first in the transaction, so a concurrent duplicate waits here, then fails and replays."""
        try:
            self.session.connection().execute(
                insert(IdempotencyKeyRow).values(
                    key=key, actor_id=actor_id, request_hash=request_hash, result={}, created_at=self.now()
                )
            )
        except IntegrityError as error:
            raise DuplicateRequest(f"idempotency key {key!r} is being used by another request") from error

    def record(self, key: str, result: dict[str, Any]) -> None:
        self.session.connection().execute(
            update(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key).values(result=result)
        )
