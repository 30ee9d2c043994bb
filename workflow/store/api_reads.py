"""Read side of the JSON API: who owns an object (for authorization), keyset-paginated lists, ledgers and audits.

Every list is ordered by id, newest first, and pages with `id < before`: a page costs one index range scan however
deep it is, and rows inserted meanwhile never shift a page (keyset pagination).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeAlias, cast

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from workflow.domain.goods import WriteOffMode
from workflow.domain.ledger import LineBalance, exhausts
from workflow.domain.lifecycle import CertState
from workflow.domain.signature import quantity_text
from workflow.store.tables import (
    ApplicationRow,
    AuditEventRow,
    CertificateChangeRow,
    CertificateLineRow,
    CertificateRow,
    DeclarationLineRow,
    DeclarationRow,
    DocumentRow,
    EnterpriseRow,
    LaboratoryRow,
    LedgerEntryRow,
    ReversalRow,
    UserRow,
)

AnySelect: TypeAlias = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class Owner:
    """Whose an object is: the enterprise it belongs to (None for none) and the district that handles it."""

    enterprise_id: int | None
    district: str


@dataclass(frozen=True)
class Scope:
    """What a reader may see: one enterprise's objects, one district's, or (both None) everything."""

    enterprise_id: int | None = None
    district: str | None = None


INT_MAX, BIGINT_MAX = 2**31 - 1, 2**63 - 1
BIG_IDS = {"declaration_id", "entry_id", "notification_id", "event_id"}  # the append-only tables' BIGINT keys


def max_id(kind: str) -> int:
    """The largest id the column can hold: PostgreSQL refuses a larger parameter rather than finding nothing."""
    return BIGINT_MAX if kind in BIG_IDS else INT_MAX


def owner(session: Session, kind: str, object_id: int) -> Owner | None:
    found = session.execute(OWNERS[kind], {"id": object_id}).first()
    return Owner(found[0], found[1]) if found else None


OWNERS = {
    "enterprise_id": select(EnterpriseRow.id, EnterpriseRow.district).where(EnterpriseRow.id == bindparam("id")),
    "application_id": select(ApplicationRow.enterprise_id, ApplicationRow.district).where(
        ApplicationRow.id == bindparam("id")
    ),
    "certificate_id": select(CertificateRow.enterprise_id, CertificateRow.district).where(
        CertificateRow.id == bindparam("id")
    ),
    "declaration_id": select(DeclarationRow.enterprise_id, DeclarationRow.district).where(
        DeclarationRow.id == bindparam("id")
    ),
    "lab_id": select(LaboratoryRow.enterprise_id, LaboratoryRow.district).where(LaboratoryRow.id == bindparam("id")),
    "entry_id": (
        select(CertificateRow.enterprise_id, CertificateRow.district)
        .join(LedgerEntryRow, LedgerEntryRow.certificate_id == CertificateRow.id)
        .where(LedgerEntryRow.id == bindparam("id"))
    ),
    "reversal_id": (
        select(CertificateRow.enterprise_id, CertificateRow.district)
        .join(LedgerEntryRow, LedgerEntryRow.certificate_id == CertificateRow.id)
        .join(ReversalRow, ReversalRow.commit_entry_id == LedgerEntryRow.id)
        .where(ReversalRow.id == bindparam("id"))
    ),
    # An applicant user belongs to their enterprise; a customs officer is nobody's here (not found).
    "user_id": (
        select(EnterpriseRow.id, EnterpriseRow.district)
        .join(UserRow, UserRow.enterprise_id == EnterpriseRow.id)
        .where(UserRow.id == bindparam("id"))
    ),
    "document_id": (
        select(ApplicationRow.enterprise_id, ApplicationRow.district)
        .join(DocumentRow, DocumentRow.application_id == ApplicationRow.id)
        .where(DocumentRow.id == bindparam("id"))
    ),
    # A certificate change request (R43) is its certificate's.
    "change_id": (
        select(CertificateRow.enterprise_id, CertificateRow.district)
        .join(CertificateChangeRow, CertificateChangeRow.certificate_id == CertificateRow.id)
        .where(CertificateChangeRow.id == bindparam("id"))
    ),
}


def _scoped(query: AnySelect, table: Any, scope: Scope, before: int | None, limit: int) -> AnySelect:
    if scope.enterprise_id is not None:
        query = query.where(table.enterprise_id == scope.enterprise_id)
    if scope.district is not None:
        query = query.where(table.district == scope.district)
    if before is not None:
        query = query.where(table.id < before)
    return query.order_by(table.id.desc()).limit(limit)


def enterprises(session: Session, scope: Scope, before: int | None, limit: int) -> list[dict[str, Any]]:
    query = select(EnterpriseRow)
    if scope.enterprise_id is not None:
        query = query.where(EnterpriseRow.id == scope.enterprise_id)
    if scope.district is not None:
        query = query.where(EnterpriseRow.district == scope.district)
    if before is not None:
        query = query.where(EnterpriseRow.id < before)
    rows = session.scalars(query.order_by(EnterpriseRow.id.desc()).limit(limit))
    return [enterprise_view(row) for row in rows]


def enterprise(session: Session, enterprise_id: int) -> dict[str, Any]:
    row = session.get(EnterpriseRow, enterprise_id)
    assert row is not None, "the caller checked the owner first"
    return enterprise_view(row)


def enterprise_view(row: EnterpriseRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "name_en": row.name_en,
        "uscc": row.uscc,
        "district": row.district,
        "is_natural_person": row.is_natural_person,
        "address": row.address,
        "contact_person": row.contact_person,
        "phone": row.phone,
        "version": row.version,
    }


def applications(
    session: Session, scope: Scope, state: str | None, before: int | None, limit: int
) -> list[dict[str, Any]]:
    query: AnySelect = select(*_LISTED)  # the listed columns only: not the screening and clock documents
    if state is not None:
        query = query.where(ApplicationRow.state == state)
    rows = session.execute(_scoped(query, ApplicationRow, scope, before, limit))
    return [dict(row._mapping) for row in rows]


_LISTED = (
    ApplicationRow.id,
    ApplicationRow.reference,
    ApplicationRow.enterprise_id,
    ApplicationRow.district,
    ApplicationRow.direction,
    ApplicationRow.state,
    ApplicationRow.grade,
    ApplicationRow.updated_at,
)


def certificates(session: Session, scope: Scope, before: int | None, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(_scoped(select(CertificateRow), CertificateRow, scope, before, limit)).all()
    return _certificate_bodies(session, rows)


def certificate(session: Session, certificate_id: int) -> dict[str, Any]:
    row = session.get(CertificateRow, certificate_id)
    assert row is not None, "the caller checked the owner first"
    return _certificate_bodies(session, [row])[0]


def _certificate_bodies(session: Session, rows: Sequence[CertificateRow]) -> list[dict[str, Any]]:
    lines = lines_of(session, CertificateLineRow.certificate_id, [row.id for row in rows])
    return [
        {
            **_usability(row, lines[row.id]),
            "id": row.id,
            "certificate_no": row.certificate_no,
            "application_id": row.application_id,
            "enterprise_id": row.enterprise_id,
            "district": row.district,
            "direction": row.direction,
            "state": row.state,
            "grade": row.grade,
            "write_off_mode": row.write_off_mode,
            "paperless": row.paperless,
            "follow_up": row.follow_up,
            "valid_from": row.valid_from,
            "valid_until": row.valid_until,
            "lines": [line_balance(line) for line in lines[row.id]],
        }
        for row in rows
    ]


def _usability(row: CertificateRow, lines: Sequence[CertificateLineRow]) -> dict[str, bool]:
    """What the ledger says of the certificate, whatever its state says: used up (C3, W4), and declarable now.

    Declarable: active, no hold, not used up, and for a single-use one no open declaration holding its one use.
    """
    mode = WriteOffMode(row.write_off_mode)
    balances = [
        LineBalance(line.line_no, line.unit, line.approved_qty, line.committed_qty, line.reserved_qty) for line in lines
    ]
    used_up = exhausts(mode, balances)
    single_use_taken = mode is WriteOffMode.SINGLE and row.open_uses > 0
    declarable = row.state == CertState.ACTIVE and not row.hold and not used_up and not single_use_taken
    return {"used_up": used_up, "declarable": declarable}


def lines_of(session: Session, parent: InstrumentedAttribute[int], parent_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The line rows of several certificates or declarations in one query, by parent id and in line order."""
    found: dict[int, list[Any]] = {parent_id: [] for parent_id in parent_ids}
    for line in session.scalars(_lines_query(cast(type, parent.class_), parent.key), {"parent_ids": list(parent_ids)}):
        found[getattr(line, parent.key)].append(line)
    return found


@cache
def _lines_query(line_table: Any, parent_key: str) -> Any:
    """Built once per line table (keyed by the table and the column's name: a column's `==` builds SQL)."""
    parent = getattr(line_table, parent_key)
    wanted = parent.in_(bindparam("parent_ids", expanding=True))
    return select(line_table).where(wanted).order_by(parent, line_table.line_no)


def line_balance(line: CertificateLineRow) -> dict[str, Any]:
    remaining = line.approved_qty - line.committed_qty - line.reserved_qty
    return {
        "line_no": line.line_no,
        "name_zh": line.name_zh,
        "unit": line.unit,
        "approved_qty": quantity_text(line.approved_qty),
        "committed_qty": quantity_text(line.committed_qty),
        "reserved_qty": quantity_text(line.reserved_qty),
        "remaining_qty": quantity_text(remaining),
    }


def write_offs(session: Session, certificate_id: int, before: int | None, limit: int) -> list[dict[str, Any]]:
    """W12: the certificate's ledger, newest first; each commit's id is what a reversal names."""
    query = (
        select(LedgerEntryRow, CertificateLineRow.line_no, DeclarationRow.declaration_no)
        .join(CertificateLineRow, CertificateLineRow.id == LedgerEntryRow.certificate_line_id)
        .outerjoin(DeclarationRow, DeclarationRow.id == LedgerEntryRow.declaration_id)
        .where(LedgerEntryRow.certificate_id == certificate_id)
    )
    if before is not None:
        query = query.where(LedgerEntryRow.id < before)
    rows = session.execute(query.order_by(LedgerEntryRow.id.desc()).limit(limit))
    return [
        {
            "id": entry.id,
            "kind": entry.kind,
            "line_no": line_no,
            "qty": quantity_text(entry.qty),
            "unit": entry.unit,
            "declaration_id": entry.declaration_id,
            "declaration_no": declaration_no,
            "reverses_entry_id": entry.reverses_entry_id,
            "actor_role": entry.actor_role,
            "at": entry.at,
            "reason": entry.reason,
        }
        for entry, line_no, declaration_no in rows
    ]


def declarations(session: Session, scope: Scope, before: int | None, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(_scoped(select(DeclarationRow), DeclarationRow, scope, before, limit)).all()
    return _declaration_bodies(session, rows)


def declaration(session: Session, declaration_id: int) -> dict[str, Any]:
    row = session.get(DeclarationRow, declaration_id)
    assert row is not None, "the caller checked the owner first"
    return _declaration_bodies(session, [row])[0]


def declarations_by_id(session: Session, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Several declarations in the order asked, in two queries (a batch's reply)."""
    rows = {row.id: row for row in session.scalars(select(DeclarationRow).where(DeclarationRow.id.in_(ids)))}
    return _declaration_bodies(session, [rows[declaration_id] for declaration_id in ids])


def _declaration_bodies(session: Session, rows: Sequence[DeclarationRow]) -> list[dict[str, Any]]:
    lines = lines_of(session, DeclarationLineRow.declaration_id, [row.id for row in rows])
    return [_declaration_body(row, lines[row.id]) for row in rows]


# What a declaration's API body shows as stored (besides its id, lines and route).
VIEW_FIELDS = "declaration_no certificate_id enterprise_id district port declared_on state hold_reason disposal"
VIEW_FIELDS += " released_on follow_up_due_on"


def declaration_from_view(view: dict[str, Any]) -> dict[str, Any]:
    """The API body of a declaration the use case just filed, from its answer (`declaration_view`): no read back."""
    return {
        "id": view["declaration_id"],
        **{name: view[name] for name in [*VIEW_FIELDS.split(), "lines"]},
        "route": _route_view(view["route"]),
    }


def _declaration_body(row: DeclarationRow, lines: Iterable[DeclarationLineRow]) -> dict[str, Any]:
    """A stored declaration in the shape of a use case's answer, then the one API body of both."""
    view = {name: getattr(row, name) for name in VIEW_FIELDS.split()} | {"declaration_id": row.id, "route": row.route}
    view["lines"] = [
        {
            "line_no": line.line_no,
            "requested_qty": quantity_text(line.requested_qty),
            "drawn_qty": quantity_text(line.drawn_qty),
        }
        for line in lines
    ]
    return declaration_from_view(view)


def _route_view(route: dict[str, Any] | None) -> dict[str, Any] | None:
    """D3 / E1–E4: rate, draw and outcome; routes drawn before period keys name no period or commitment."""
    if route is None:
        return None
    inspected = bool(route.get("inspected"))
    return {
        "rate": route.get("rate", ""),
        "draw": route.get("draw", ""),
        "outcome": route.get("outcome") or ("inspect" if inspected else "release"),
        "inspected": inspected,
        "draw_period": route.get("draw_period"),
        "draw_commitment": route.get("draw_commitment"),
        "inherited_from": list(route.get("inherited_from") or []),
    }


def reversal(session: Session, reversal_id: int) -> dict[str, Any]:
    row = session.get(ReversalRow, reversal_id)
    assert row is not None, "the caller checked the owner first"
    return {
        "id": row.id,
        "entry_id": row.commit_entry_id,
        "qty": quantity_text(row.qty),
        "reason_code": row.reason_code,
        "reason": row.reason,
        "state": row.state,
        "requested_at": row.requested_at,
        "decided_at": row.decided_at,
    }


def audit_events(
    session: Session, scope: Scope, object_type: str | None, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """The district's audit trail (auditors, heads): every event, or one kind of object's."""
    query = select(AuditEventRow)
    if scope.district is not None:
        query = query.where(AuditEventRow.district == scope.district)
    if object_type is not None:
        query = query.where(AuditEventRow.object_type == object_type)
    if before is not None:
        query = query.where(AuditEventRow.id < before)
    rows = session.scalars(query.order_by(AuditEventRow.id.desc()).limit(limit))
    return [audit_view(row) for row in rows]


def audit_trail(session: Session, object_type: str, object_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(_TRAIL, {"object_type": object_type, "object_id": object_id})
    return [audit_view(row) for row in rows]


_TRAIL = (  # built once: most pages show an object's trail
    select(AuditEventRow)
    .where(AuditEventRow.object_type == bindparam("object_type"), AuditEventRow.object_id == bindparam("object_id"))
    .order_by(AuditEventRow.id)
)


def audit_view(row: AuditEventRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "object_ref": row.object_ref,
        "district": row.district,
        "at": row.at,
        "trigger": row.trigger,
        "from": row.from_state,
        "to": row.to_state,
        "actor": {"id": row.actor_id, "role": row.actor_role, "name": row.actor_name},
        "reason": row.reason,
        "rule_ids": row.rule_ids,
        "policy": {"id": row.policy_id, "hash": row.policy_hash},
        "inputs": row.inputs,
    }
