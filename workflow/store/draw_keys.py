"""The inspection draw's records in SQL: period keys (E2), pending inspections (E4), and the draw audit's reads.

A period's key is made from the operating system's CSPRNG the first time a draw needs it, together with the next
period's, so every commitment is public a whole period before its key draws anything.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflow.domain.draws import (
    KEY_BYTES,
    DrawAudit,
    PendingInspection,
    PeriodKey,
    RecordedDraw,
    audit_period,
    commitment,
    is_closed,
    next_period,
    parse_period,
)
from workflow.domain.errors import GuardFailed, NotFound
from workflow.store.tables import AuditEventRow, DeclarationRow, DrawKeyRow, PendingInspectionRow

Now = Callable[[], datetime]
ROUTE_TRIGGERS = ("inspect", "release")
_COMMITTED_KEYS = "specgoods_committed_draw_keys"  # in the pooled DBAPI connection's info: (district, period) → key


class SqlDraws:
    """Writes go into the caller's transaction, so a key made for a draw that rolls back is never published."""

    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now
        self._carries: dict[int, Decimal] = {}  # pending inspection id → quantity carried off, written at commit
        self._keys: dict[tuple[str, str], PeriodKey] = {}  # read once per transaction: a batch draws under one key
        self._pending: dict[int, list[PendingInspection]] = {}  # by certificate line, read once per transaction
        self._made_keys = False  # this transaction inserted a key: what it reads may yet roll back

    def period_key(self, district: str, period: str) -> PeriodKey:
        """The period's key, made (with the next period's) if this is its first draw."""
        if (district, period) not in self._keys:
            self._keys[district, period] = self._period_key(district, period)
        return self._keys[district, period]

    def _period_key(self, district: str, period: str) -> PeriodKey:
        """From the connection's memory of committed keys, else read (and made, with the next period's, if missing).

        A key row never changes once committed, so a connection that has read it keeps it: the draw on the
        hot path then costs no round trip. Only keys this transaction did not make are remembered, since a key it
        made is gone if it rolls back.
        """
        connection = self.session.connection()
        remembered: dict[tuple[str, str], PeriodKey] = connection.info.setdefault(_COMMITTED_KEYS, {})
        wanted = (period, next_period(period))
        if all((district, p) in remembered for p in wanted):  # the next period's too: its commitment is public early
            return remembered[district, period]
        keys = _keys(connection, district, wanted)
        if len(keys) < len(wanted):
            for missing in (p for p in wanted if p not in keys):
                self._add_key(district, missing)
            keys = _keys(connection, district, wanted)  # a racer's key, if it won the insert
        if not self._made_keys:
            remembered.update({(district, p): key for p, key in keys.items()})
        return keys[period]

    def _add_key(self, district: str, period: str) -> None:
        self._made_keys = True
        key = secrets.token_bytes(KEY_BYTES)
        values = {
            "district": district,
            "period": period,
            "key_hex": key.hex(),
            "commitment": commitment(key),
            "created_at": self.now(),
        }
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(DrawKeyRow).values(**values)
        self.session.execute(statement.on_conflict_do_nothing(index_elements=["district", "period"]))

    def open_pending(self, line_ids: Sequence[int]) -> list[PendingInspection]:
        """E4: pending inspections on these lines whose withdrawn quantity is not carried yet.

        Read without a lock: two declarations racing for the last of a pending quantity may both take it on, which
        inspects one shipment more than needed and never one less.
        """
        unread = [line_id for line_id in line_ids if line_id not in self._pending]
        if unread:  # a batch on one hot line reads it once, not once per declaration
            self._pending |= {line_id: [] for line_id in unread}
            for found in self.session.connection().execute(_OPEN_PENDING, {"lines": unread}):
                self._pending[found.certificate_line_id].append(_pending(found))
        found_now = (self._carried(pending) for line_id in line_ids for pending in self._pending[line_id])
        return sorted((pending for pending in found_now if pending.carried < pending.qty), key=lambda p: p.id)

    def _carried(self, pending: PendingInspection) -> PendingInspection:
        """As this transaction's earlier declarations left it: their carries are written only at commit."""
        return replace(pending, carried=pending.carried + self._carries.get(pending.id, Decimal(0)))

    def carry(self, pending_id: int, qty: Decimal) -> None:
        """Noted now, written by `flush_carries` at commit: after the certificate lines, like every writer."""
        self._carries[pending_id] = self._carries.get(pending_id, Decimal(0)) + qty

    def flush_carries(self) -> None:
        """The carries in id order, each capped at the withdrawn quantity; the lines were locked before them.

        Every transaction takes certificate-line locks before pending-inspection ones, so the two never cycle.
        """
        row = PendingInspectionRow
        for pending_id, qty in sorted(self._carries.items()):
            self.session.execute(
                update(row)
                .where(row.id == pending_id)
                .values(carried_qty=case((row.carried_qty + qty > row.qty, row.qty), else_=row.carried_qty + qty))
                .execution_options(synchronize_session=False)
            )
        self._carries.clear()

    def add_pending(
        self, declaration_id: int, declaration_no: str, withdrawn_on: date, held: Mapping[int, Decimal]
    ) -> None:
        """E4: one row per certificate line (id → qty) the withdrawn declaration held."""
        self.session.add_all(
            PendingInspectionRow(
                certificate_line_id=line_id,
                declaration_id=declaration_id,
                declaration_no=declaration_no,
                withdrawn_on=withdrawn_on,
                qty=qty,
                carried_qty=Decimal(0),
            )
            for line_id, qty in held.items()
        )
        self.session.flush()


_PENDING = PendingInspectionRow
# Read on every declaration (E4), built once: columns, not entities, since nothing here is written back through them.
_OPEN_PENDING = (
    select(
        _PENDING.id,
        _PENDING.declaration_no,
        _PENDING.certificate_line_id,
        _PENDING.qty,
        _PENDING.carried_qty,
        _PENDING.withdrawn_on,
    )
    .where(_PENDING.certificate_line_id.in_(bindparam("lines", expanding=True)), _PENDING.carried_qty < _PENDING.qty)
    .order_by(_PENDING.id)
)


def _pending(row: Any) -> PendingInspection:
    return PendingInspection(
        row.id, row.declaration_no, row.certificate_line_id, row.qty, row.carried_qty, row.withdrawn_on
    )


def _keys(connection: Connection, district: str, periods: Sequence[str]) -> dict[str, PeriodKey]:
    rows = connection.execute(
        select(DrawKeyRow.period, DrawKeyRow.commitment, DrawKeyRow.key_hex).where(
            DrawKeyRow.district == district, DrawKeyRow.period.in_(periods)
        )
    )
    return {period: PeriodKey(district, period, digest, bytes.fromhex(key)) for period, digest, key in rows}


# -- what anyone may read, and the auditor's check ------------------------------------------------------------------


def published_keys(connection: Connection, today: date, district: str | None = None) -> list[dict[str, Any]]:
    """Every period's commitment, newest first; a key only once its period has closed."""
    query = select(DrawKeyRow.district, DrawKeyRow.period, DrawKeyRow.commitment, DrawKeyRow.key_hex)
    if district is not None:
        query = query.where(DrawKeyRow.district == district)
    rows = connection.execute(query.order_by(DrawKeyRow.district, DrawKeyRow.period.desc()))
    return [PeriodKey(d, period, digest, bytes.fromhex(key)).published(today) for d, period, digest, key in rows]


def revealed_key(connection: Connection, district: str, period: str, today: date) -> PeriodKey:
    """A closed period's key; an open (or future) period's key is never handed out."""
    if not is_closed(parse_period(period), today):
        raise GuardFailed(f"period {period} has not closed: its key is revealed only after it", rule_id="E2")
    keys = _keys(connection, district, [period])
    if period not in keys:
        raise NotFound(f"no draw key of {district} for {period}: nothing was drawn in it", field="period")
    return keys[period]


def audit_draws(connection: Connection, district: str, period: str, today: date) -> DrawAudit:
    """Recompute every draw the audit chain recorded for the district in a closed period."""
    return audit_period(revealed_key(connection, district, period, today), recorded_draws(connection, district, period))


def recorded_draws(
    connection: Connection, district: str, period: str | None, declaration_ids: Sequence[int] | None = None
) -> list[RecordedDraw]:
    """The routes the chain recorded (the event's inputs), with each declaration's stored route beside them.

    Routes drawn before period keys existed name no period and are never returned.
    """
    event = AuditEventRow
    query = (
        select(event.id, event.inputs, DeclarationRow.declaration_no, DeclarationRow.route)
        .join(DeclarationRow, DeclarationRow.id == event.object_id)
        .where(event.object_type == "declaration", event.district == district, event.trigger.in_(ROUTE_TRIGGERS))
        .order_by(event.id)
    )
    if declaration_ids is not None:
        query = query.where(event.object_id.in_(declaration_ids))
    return [
        RecordedDraw(number, event_id, inputs, stored)
        for event_id, inputs, number, stored in connection.execute(query)
        if inputs.get("draw_period") is not None and period in (None, inputs.get("draw_period"))
    ]
