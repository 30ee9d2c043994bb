"""Read side of the web pages: the reviewer queue, profiles, write-off history with running balances, dashboards.

Lists are keyset-paged (`before` an id, newest first) and filter on indexed columns, so a page costs the same on
the hundredth page as on the first; pages fetch one row more than they show to know whether another page exists.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, exists, func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import identity_key

from workflow.domain.goods import GoodsLine
from workflow.domain.policy import DEFAULT_TIME_ZONE
from workflow.domain.signature import quantity_text
from workflow.store import credit_reads, district_counts
from workflow.store.api_reads import Scope, enterprise_view, line_balance, lines_of
from workflow.store.codec import line_from_json
from workflow.store.tables import (
    ApplicationLineRow,
    ApplicationRow,
    CertificateLineRow,
    CertificateRow,
    DeclarationRow,
    DocumentRow,
    EnterpriseRow,
    GrantedProductRow,
    LedgerEntryRow,
    PanelSeatRow,
    ReversalRow,
    RiskAssessmentRow,
    UserRow,
)

DECIDED_STATES = ("granted", "denied")
PORT_STATES = ("port_review", "inspection", "lab_hold", "disposal_ordered", "follow_up_pending")
CLOCK_STATES = ("accepted", "under_review", "risk_assessment")  # the decision clock runs (or is paused) in these
RECENT_SAMPLE = 500  # the dashboard's inspection rates read the period's latest routed declarations only


@dataclass(frozen=True)
class QueueFilter:
    """A reviewer's queue: the district is the officer's own (None for a province-wide user)."""

    district: str | None = None
    state: str | None = None
    grade: str | None = None
    paperless: bool | None = None
    # SLA urgency: the running clock's stored due date (R19–R22) within [due_from, due_until]
    due_from: date | None = None
    due_until: date | None = None
    claimed_by: int | None = None  # "mine": the files this officer works
    unclaimed: bool = False  # nobody works them yet
    states: tuple[str, ...] = ()  # "open work": any of these states (the officer's post acts in them)
    free_for: int | None = None  # "open work": unclaimed, or claimed by this officer


def review_queue(session: Session, where: QueueFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
    values = _queue_values(where, before)
    query = _queue_query(tuple(name for name in _QUEUE_FILTERS if name in values))
    bound = {name: value for name, value in values.items() if name not in _QUEUE_FLAGS}
    rows = session.connection().execute(query, {**bound, "limit": limit})  # columns: no ORM
    return [row._asdict() for row in rows]


def _queue_values(where: QueueFilter, before: int | None) -> dict[str, Any]:
    """The filters a page asks for, by name: a value to bind, or True for a condition that binds none."""
    values: dict[str, Any] = {
        "district": where.district,
        "state": where.state,
        "grade": where.grade,
        "paperless": where.paperless,
        "due_from": where.due_from,
        "due_until": where.due_until,
        "claimed_by": where.claimed_by,
        "unclaimed": where.unclaimed or None,
        "states": list(where.states) or None,
        "free_for": where.free_for,
        "before": before,
        "not_draft": where.state is None or None,  # a draft is the applicant's, not yet customs' business
    }
    return {name: value for name, value in values.items() if value is not None}


_QUEUE_FILTERS: dict[str, Any] = {  # each filter's condition, by the name its value binds to
    "district": lambda: ApplicationRow.district == bindparam("district"),
    "state": lambda: ApplicationRow.state == bindparam("state"),
    "grade": lambda: ApplicationRow.grade == bindparam("grade"),
    "paperless": lambda: ApplicationRow.paperless == bindparam("paperless"),
    "due_from": lambda: ApplicationRow.decision_due_on >= bindparam("due_from"),
    "due_until": lambda: ApplicationRow.decision_due_on <= bindparam("due_until"),
    "claimed_by": lambda: ApplicationRow.claimed_by == bindparam("claimed_by"),
    "unclaimed": lambda: ApplicationRow.claimed_by.is_(None),
    "states": lambda: ApplicationRow.state.in_(bindparam("states", expanding=True)),
    "free_for": lambda: ApplicationRow.claimed_by.is_(None) | (ApplicationRow.claimed_by == bindparam("free_for")),
    "before": lambda: ApplicationRow.id < bindparam("before"),
    "not_draft": lambda: ApplicationRow.state != "draft",
}


_QUEUE_FLAGS = frozenset({"unclaimed", "not_draft"})  # conditions with no value to bind


@cache
def _queue_query(filters: tuple[str, ...]) -> Any:
    """The queue's statement for one set of filters, built once.

    A queue page built it anew on every view (some fifty calls of SQLAlchemy's), and looked its compiled form up by
    a key generated from the whole tree; built once, SQLAlchemy keeps its key with it.
    """
    query = _QUEUE.where(*(_QUEUE_FILTERS[name]() for name in filters))
    return query.order_by(ApplicationRow.id.desc()).limit(bindparam("limit"))


def district_officers(session: Session, district: str) -> list[dict[str, Any]]:
    """Who a head may hand a file to: the active acceptors, reviewers, deciders and heads of the district."""
    roles = ("acceptor", "reviewer", "decider", "head")
    query = (
        select(UserRow.id, UserRow.username, UserRow.display_name, UserRow.role)
        .where(UserRow.district == district, UserRow.role.in_(roles), UserRow.active.is_(True))
        .order_by(UserRow.role, UserRow.username)
    )
    return [{"id": row[0], "name": row[2] or row[1], "role": row[3]} for row in session.execute(query)]


# The queue's columns, not whole rows: fifty applications' screening JSON would be decoded for nothing.
_QUEUE_COLUMNS = (
    ApplicationRow.id,
    ApplicationRow.reference,
    EnterpriseRow.name.label("enterprise"),
    ApplicationRow.enterprise_id,  # its credit in force and pending (web/ui/credit.py with_credit)
    ApplicationRow.district,
    ApplicationRow.direction,
    ApplicationRow.state,
    ApplicationRow.grade,
    ApplicationRow.paperless,
    ApplicationRow.received_on,
    ApplicationRow.accepted_on,
    ApplicationRow.clock,
)
_HOLDER = aliased(UserRow, name="holder")
# Built once: each page adds its filters to a copy (a select is immutable), not the joins and columns again.
_QUEUE = (
    select(*_QUEUE_COLUMNS, func.coalesce(func.nullif(_HOLDER.display_name, ""), _HOLDER.username).label("holder"))
    .join(EnterpriseRow, EnterpriseRow.id == ApplicationRow.enterprise_id)
    .outerjoin(_HOLDER, _HOLDER.id == ApplicationRow.claimed_by)
)


def document(session: Session, document_id: int) -> dict[str, Any] | None:
    """An attachment's stored facts: the bytes are in the document store under `sha256`."""
    row = session.get(DocumentRow, document_id)
    if row is None:
        return None
    return {"filename": row.filename, "content_type": row.content_type, "sha256": row.sha256, "size": row.size}


def goods_lines(session: Session, application_id: int) -> list[GoodsLine]:
    """The application's goods lines with every fact the page shows and the document rules read, in line order."""
    rows = session.scalars(
        select(ApplicationLineRow.facts)
        .where(ApplicationLineRow.application_id == application_id)
        .order_by(ApplicationLineRow.line_no)
    )
    return [line_from_json(facts) for facts in rows]


def application_posts(session: Session, application_id: int) -> dict[str, dict[str, Any] | None]:
    """Who accepted, reviewed and decided the application (R11: three different officers), by post."""
    row = session.get(ApplicationRow, application_id)
    if row is None:
        return {}
    ids = {"acceptor": row.acceptor_id, "reviewer": row.reviewer_id, "decider": row.decider_id}
    held = [i for i in ids.values() if i is not None]
    users: Iterable[UserRow] = session.scalars(select(UserRow).where(UserRow.id.in_(held))) if held else ()
    names = {user.id: user.display_name or user.username for user in users}  # none asked for a file nobody held
    return {post: ({"id": i, "name": names.get(i, "")} if i is not None else None) for post, i in ids.items()}


def declaration_route(session: Session, declaration_id: int) -> dict[str, Any] | None:
    """The inspection-routing result (E1–E3) with the rate, the draw and the reason."""
    route: dict[str, Any] | None = session.scalar(
        select(DeclarationRow.route).where(DeclarationRow.id == declaration_id)
    )
    return route


def enterprise_district(session: Session, enterprise_id: int) -> str | None:
    """The district an enterprise is registered in: whose local time its users read.

    A page that read the enterprise's row already (the applicant's own application) holds it: no second read.
    """
    held = session.identity_map.get(identity_key(EnterpriseRow, enterprise_id))
    if isinstance(held, EnterpriseRow):
        return held.district
    return session.scalar(select(EnterpriseRow.district).where(EnterpriseRow.id == enterprise_id))


def enterprise_profile(session: Session, enterprise_id: int) -> dict[str, Any] | None:
    """The enterprise, its credit history (newest first) and its certificates (earlier approvals)."""
    row = session.get(EnterpriseRow, enterprise_id)
    if row is None:
        return None
    return _with_history(session, row)


def _with_history(session: Session, row: EnterpriseRow) -> dict[str, Any]:
    records = credit_reads.histories(session, [row.id])[row.id]
    newest_first = sorted(records, key=lambda record: record.effective_from, reverse=True)
    return enterprise_view(row) | {
        "credit": [
            {"tier": c.tier.value, "regime": c.regime.value, "from": c.effective_from, "to": c.effective_to}
            for c in newest_first
        ],
        "credit_records": records,  # the tier in force today is read from these (credit_reads.summary_today)
        "approvals": approvals(session, row.id, limit=20),
    }


# R15's "granted before" (granted_products.has_grant: any row of the enterprise), asked beside its row.
_HAS_GRANT = exists().where(GrantedProductRow.enterprise_id == EnterpriseRow.id)
_FILE_ENTERPRISE = select(EnterpriseRow, _HAS_GRANT.label("has_grant")).where(
    EnterpriseRow.id == bindparam("enterprise_id")
)  # built once: a compiled-cache hit on every view


@dataclass(frozen=True)
class FileEnterprise:
    """The application page's enterprise: its row (a page may hold it for later reads), its profile, R15's answer."""

    row: EnterpriseRow
    profile: dict[str, Any]
    has_grant: bool


def file_enterprise(session: Session, enterprise_id: int, with_history: bool) -> FileEnterprise | None:
    """The enterprise of an application and whether it was granted anything before (R15), in one statement.

    With its history (credit and earlier approvals, as `enterprise_profile`) only for a reader shown them.
    """
    found = session.execute(_FILE_ENTERPRISE, {"enterprise_id": enterprise_id}).first()
    if found is None:
        return None
    row, has_grant = found
    profile = _with_history(session, row) if with_history else enterprise_view(row)
    return FileEnterprise(row, profile, bool(has_grant))


_APPROVALS = (  # built once: the application's page shows the enterprise's latest approvals on every view
    select(CertificateRow)
    .where(CertificateRow.enterprise_id == bindparam("enterprise_id"))
    .order_by(CertificateRow.id.desc())
    .limit(bindparam("limit"))
)


def approvals(session: Session, enterprise_id: int, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(_APPROVALS, {"enterprise_id": enterprise_id, "limit": limit})
    return [
        {
            "id": c.id,
            "certificate_no": c.certificate_no,
            "application_id": c.application_id,
            "grade": c.grade,
            "state": c.state,
            "valid_until": c.valid_until,
        }
        for c in rows
    ]


def certificate_id_by_no(session: Session, certificate_no: str) -> int | None:
    found: int | None = session.scalar(_CERTIFICATE_BY_NO, {"certificate_no": certificate_no.strip()})
    return found


_CERTIFICATE_BY_NO = select(CertificateRow.id).where(CertificateRow.certificate_no == bindparam("certificate_no"))


def declarations_by_no(session: Session, declaration_no: str, district: str | None) -> list[dict[str, Any]]:
    """A number is unique per enterprise, so one district may hold several declarations under it: all, newest first."""
    query = select(DeclarationRow, CertificateRow.certificate_no).join(
        CertificateRow, CertificateRow.id == DeclarationRow.certificate_id
    )
    query = query.where(DeclarationRow.declaration_no == declaration_no.strip())
    if district is not None:
        query = query.where(DeclarationRow.district == district)
    return _declaration_rows(session.execute(query.order_by(DeclarationRow.id.desc()).limit(50)))


def certificates_with_lines(
    session: Session, enterprise_id: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """An enterprise's certificates, newest first, with every line's balances: two queries, whatever the page size."""
    query = select(CertificateRow).where(CertificateRow.enterprise_id == enterprise_id)
    if before is not None:
        query = query.where(CertificateRow.id < before)
    rows = session.scalars(query.order_by(CertificateRow.id.desc()).limit(limit)).all()
    lines = lines_of(session, CertificateLineRow.certificate_id, [row.id for row in rows])
    return [_certificate_row(row, [line_balance(line) for line in lines[row.id]]) for row in rows]


def _certificate_row(row: CertificateRow, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "certificate_no": row.certificate_no,
        "state": row.state,
        "grade": row.grade,
        "write_off_mode": row.write_off_mode,
        "valid_until": row.valid_until,
        "lines": lines,
    }


def certificate_numbers(session: Session, district: str) -> set[str]:
    return set(session.scalars(select(CertificateRow.certificate_no).where(CertificateRow.district == district)))


def certificate_declarations(session: Session, certificate_id: int, limit: int = 50) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(DeclarationRow)
        .where(DeclarationRow.certificate_id == certificate_id)
        .order_by(DeclarationRow.id.desc())
        .limit(limit)
    )
    return [
        {"id": d.id, "declaration_no": d.declaration_no, "state": d.state, "declared_on": d.declared_on} for d in rows
    ]


# -- write-off history with running balances ------------------------------------------------------------------------

# What each ledger entry does to a line's use (committed + reserved) and to its committed quantity.
_USE = {"reserve": 1, "release": -1, "commit": 0, "reverse": -1}
_COMMITTED = {"reserve": 0, "release": 0, "commit": 1, "reverse": -1}


def _signed(table: dict[str, int]) -> Any:
    """The entry's quantity with its sign, typed as a quantity so the sum reads back as a Decimal.

    No multiplication: a bound factor would be scaled like a quantity (ten-thousandths).
    """
    whens = [(LedgerEntryRow.kind == kind, LedgerEntryRow.qty if sign > 0 else -LedgerEntryRow.qty)
             for kind, sign in table.items() if sign]  # fmt: skip
    return case(*whens, else_=0)


@dataclass(frozen=True)
class LedgerFilter:
    """Whose write-offs: one certificate, one enterprise, one district, or all; and a period of entry dates.

    The dates are local dates in `time_zone` (the reader's district), so a period starts at its local midnight.
    """

    certificate_id: int | None = None
    enterprise_id: int | None = None
    district: str | None = None
    since: date | None = None
    until: date | None = None
    time_zone: str = DEFAULT_TIME_ZONE


def ledger_history(session: Session, where: LedgerFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Ledger entries, newest first, each with its line's committed and remaining quantity right after it.

    Two steps: the page of entries (keyset, filters), then running sums over the whole history of only the lines on
    that page (window functions, PostgreSQL and SQLite alike). A balance so never depends on the page or the period
    that shows it, and a page costs the same whatever the size of the ledger. One certificate's history (its page,
    the port desk's, its declarations') is one step: the sums over its own ledger, then the page.
    """
    if where.certificate_id is not None:
        return _certificate_history(session, where, before, limit)
    page = session.execute(_ledger_page(where, before, limit)).mappings().all()
    if not page:
        return []
    balances = _running_balances(session, {row["certificate_line_id"] for row in page}, page[0]["id"])
    return [_history_row(row, *balances[row["id"]]) for row in page]


def _certificate_history(session: Session, where: LedgerFilter, before: int | None, limit: int) -> list[dict[str, Any]]:
    """One certificate's page with its balances in one statement (`_certificate_history_query`)."""
    values: dict[str, Any] = {
        "certificate_id": where.certificate_id,
        "enterprise_id": where.enterprise_id,
        "district": where.district,
        "since": _start_of(where.since, where.time_zone) if where.since is not None else None,
        "until": _start_of(where.until, where.time_zone, 1) if where.until is not None else None,
        "before": before,
        "limit": limit,
    }
    query = _certificate_history_query(*(values[name] is not None for name in _OPTIONAL_FILTERS))
    rows = session.execute(query, {name: value for name, value in values.items() if value is not None}).mappings()
    return [_history_row(row, Decimal(row["used"] or 0), Decimal(row["committed"] or 0)) for row in rows.all()]


_OPTIONAL_FILTERS = ("enterprise_id", "district", "since", "until", "before")


@cache
def _certificate_history_query(enterprise: bool, district: bool, since: bool, until: bool, before: bool) -> Any:
    """The statement for one combination of filters, built once (a compiled-cache hit on every page after).

    The running sums are taken over every entry of the certificate's lines (the inner query) before the period and
    the keyset choose the page (the outer one): each balance is the one `_running_balances` gives, which sums the
    same line's entries up to the same id.
    """
    line, order = LedgerEntryRow.certificate_line_id, LedgerEntryRow.id
    sums = (
        func.sum(_signed(_USE)).over(partition_by=line, order_by=order).label("used"),
        func.sum(_signed(_COMMITTED)).over(partition_by=line, order_by=order).label("committed"),
    )
    inner = _with_ledger_joins(select(*_LEDGER_COLUMNS, *sums)).where(
        LedgerEntryRow.certificate_id == bindparam("certificate_id")
    )
    if enterprise:
        inner = inner.where(CertificateRow.enterprise_id == bindparam("enterprise_id"))
    if district:
        inner = inner.where(CertificateRow.district == bindparam("district"))
    page = inner.subquery()
    query = select(page)
    if since:
        query = query.where(page.c.at >= bindparam("since"))
    if until:
        query = query.where(page.c.at < bindparam("until"))
    if before:
        query = query.where(page.c.id < bindparam("before"))
    return query.order_by(page.c.id.desc()).limit(bindparam("limit"))


_LEDGER_COLUMNS = (
    LedgerEntryRow.id,
    LedgerEntryRow.kind,
    LedgerEntryRow.qty,
    LedgerEntryRow.unit,
    LedgerEntryRow.at,
    LedgerEntryRow.actor_role,
    LedgerEntryRow.reason,
    LedgerEntryRow.declaration_id,
    LedgerEntryRow.certificate_line_id,
    CertificateRow.id.label("certificate_id"),
    CertificateRow.certificate_no,
    CertificateLineRow.line_no,
    CertificateLineRow.approved_qty,
    DeclarationRow.declaration_no,
)


def _with_ledger_joins(query: Any) -> Any:
    return (
        query.join(CertificateRow, CertificateRow.id == LedgerEntryRow.certificate_id)
        .join(CertificateLineRow, CertificateLineRow.id == LedgerEntryRow.certificate_line_id)
        .outerjoin(DeclarationRow, DeclarationRow.id == LedgerEntryRow.declaration_id)
    )


def _owned_by(query: Any, where: LedgerFilter) -> Any:
    """Whose entries: a certificate's, an enterprise's, a district's (each a property of the entry's certificate)."""
    for column, value in (
        (LedgerEntryRow.certificate_id, where.certificate_id),
        (CertificateRow.enterprise_id, where.enterprise_id),
        (CertificateRow.district, where.district),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def _ledger_page(where: LedgerFilter, before: int | None, limit: int) -> Any:
    query = _owned_by(_with_ledger_joins(select(*_LEDGER_COLUMNS)), where)
    if where.since is not None:
        query = query.where(LedgerEntryRow.at >= _start_of(where.since, where.time_zone))
    if where.until is not None:
        query = query.where(LedgerEntryRow.at < _start_of(where.until, where.time_zone, 1))
    if before is not None:
        query = query.where(LedgerEntryRow.id < before)
    return query.order_by(LedgerEntryRow.id.desc()).limit(limit)


def _running_balances(session: Session, line_ids: set[int], up_to: int) -> dict[int, tuple[Decimal, Decimal]]:
    """Entry id -> (use, committed) of its line right after it, over the lines' whole history up to `up_to`."""
    line, order = LedgerEntryRow.certificate_line_id, LedgerEntryRow.id
    rows = session.execute(
        select(
            LedgerEntryRow.id,
            func.sum(_signed(_USE)).over(partition_by=line, order_by=order),
            func.sum(_signed(_COMMITTED)).over(partition_by=line, order_by=order),
        ).where(line.in_(line_ids), LedgerEntryRow.id <= up_to)
    )
    return {entry_id: (Decimal(used or 0), Decimal(committed or 0)) for entry_id, used, committed in rows}


def _start_of(day: date, time_zone: str, plus_days: int = 0) -> datetime:
    """The local day's first instant, as the naive UTC the timestamp columns hold."""
    local = datetime.combine(date.fromordinal(day.toordinal() + plus_days), datetime.min.time(), ZoneInfo(time_zone))
    return local.astimezone(UTC).replace(tzinfo=None)


def _history_row(row: Any, used: Decimal, committed: Decimal) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "qty": quantity_text(Decimal(row["qty"])),
        "unit": row["unit"],
        "at": row["at"],
        "actor_role": row["actor_role"],
        "reason": row["reason"],
        "certificate_id": row["certificate_id"],
        "certificate_no": row["certificate_no"],
        "line_no": row["line_no"],
        "declaration_id": row["declaration_id"],
        "declaration_no": row["declaration_no"],
        "committed": quantity_text(committed),
        "remaining": quantity_text(Decimal(row["approved_qty"]) - used),
    }


def open_declarations(session: Session, district: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """Declarations waiting for a port officer: held, under inspection, at the laboratory or awaiting disposal."""
    query = select(DeclarationRow, CertificateRow.certificate_no).join(
        CertificateRow, CertificateRow.id == DeclarationRow.certificate_id
    )
    query = query.where(DeclarationRow.state.in_(PORT_STATES))
    if district is not None:
        query = query.where(DeclarationRow.district == district)
    return _declaration_rows(session.execute(query.order_by(DeclarationRow.id.desc()).limit(limit)))


def _declaration_rows(rows: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "declaration_no": d.declaration_no,
            "certificate_no": number,
            "state": d.state,
            "declared_on": d.declared_on,
            "hold_reason": d.hold_reason,
        }
        for d, number in rows
    ]


def pending_reversals(session: Session, district: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """W10: reversals requested and not yet decided, with the write-off they would undo."""
    query = (
        select(ReversalRow, LedgerEntryRow, CertificateRow.certificate_no, CertificateRow.id)
        .join(LedgerEntryRow, LedgerEntryRow.id == ReversalRow.commit_entry_id)
        .join(CertificateRow, CertificateRow.id == LedgerEntryRow.certificate_id)
        .where(ReversalRow.state == "requested")
    )
    if district is not None:
        query = query.where(CertificateRow.district == district)
    rows = session.execute(query.order_by(ReversalRow.id).limit(limit))
    return [
        {
            "id": reversal.id,
            "entry_id": entry.id,
            "certificate_id": certificate_id,
            "certificate_no": number,
            "qty": quantity_text(reversal.qty),
            "unit": entry.unit,
            "reason_code": reversal.reason_code,
            "reason": reversal.reason,
            "requested_by": reversal.requested_by,
            "requested_at": reversal.requested_at,
        }
        for reversal, entry, number, certificate_id in rows
    ]


# -- expert desk ----------------------------------------------------------------------------------------------------


def expert_seats(session: Session, expert_id: int, open_only: bool, limit: int = 100) -> list[dict[str, Any]]:
    query = (
        select(PanelSeatRow, RiskAssessmentRow, ApplicationRow.reference, ApplicationRow.id)
        .join(RiskAssessmentRow, RiskAssessmentRow.id == PanelSeatRow.assessment_id)
        .join(ApplicationRow, ApplicationRow.id == RiskAssessmentRow.application_id)
        .where(PanelSeatRow.expert_id == expert_id)
    )
    if open_only:
        query = query.where(PanelSeatRow.opinion.is_(None), RiskAssessmentRow.state == "open")
    rows = session.execute(query.order_by(PanelSeatRow.due_on, PanelSeatRow.id).limit(limit))
    return [
        {
            "seat_id": seat.id,
            "assessment_id": assessment.id,
            "application_id": application_id,
            "reference": reference,
            "due_on": seat.due_on,
            "opinion": seat.opinion,
            "reason": seat.reason,
            "assessment_state": assessment.state,
            "assessment_due_on": assessment.due_on,
        }
        for seat, assessment, reference, application_id in rows
    ]


_ASSESSMENTS = (  # built once: the application's page asks on every view
    select(RiskAssessmentRow)
    .where(RiskAssessmentRow.application_id == bindparam("application_id"))
    .order_by(RiskAssessmentRow.id)
)


def assessments_of(session: Session, application_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(_ASSESSMENTS, {"application_id": application_id})
    return [
        {
            "id": a.id,
            "state": a.state,
            "outcome": a.outcome,
            "assessor_level": a.assessor_level,
            "panel_size": a.panel_size,
            "started_on": a.started_on,
            "due_on": a.due_on,
            "concluded_on": a.concluded_on,
            "reused_from_id": a.reused_from_id,
            "overridden_by": a.overridden_by,
            "overridden_on": a.overridden_on,
            "override_reason": a.override_reason,
        }
        for a in rows
    ]


# -- auditor's dashboard --------------------------------------------------------------------------------------------


ALL_TIME = (date(1, 1, 1), date(9998, 12, 31))  # the period of a dashboard asked for without one


def dashboard(session: Session, scope: Scope, period: tuple[date, date] = ALL_TIME) -> dict[str, Any]:
    """Kept counts only (district_counts.py): nothing here grows with the number of applications.

    Applications per state now; over the period (the district's dates, both ends included) the certificates issued
    and the decisions taken. Inspection rates: the latest routed declarations of the period.
    """
    counts = district_counts.current(session, scope.district)
    days = district_counts.in_period(session, scope.district, *period)
    prefix, decided = district_counts.STATE_PREFIX, district_counts.DECIDED
    return {
        "by_state": {name.removeprefix(prefix): n for name, n in counts.items() if name.startswith(prefix)},
        "paperless": {
            "paperless": days.get(f"{district_counts.ISSUED}paperless", 0),
            "paper": days.get(f"{district_counts.ISSUED}paper", 0),
        },
        "decisions": {
            int(kind.removeprefix(decided)): n
            for kind, n in days.items()
            if kind.startswith(decided) and kind.removeprefix(decided).isdigit()
        },
        "late": days.get(f"{decided}{district_counts.LATE}", 0),
        "inspection": _inspection_rates(session, scope, period),
    }


def _inspection_rates(
    session: Session, scope: Scope, period: tuple[date, date]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(grade, credit tier) -> (inspected, routed) over the period's latest routed declarations (E1)."""
    query = select(DeclarationRow.route).where(
        DeclarationRow.route.is_not(None), DeclarationRow.declared_on.between(*period)
    )
    if scope.district is not None:
        query = query.where(DeclarationRow.district == scope.district)
    routed: Counter[tuple[str, str]] = Counter()
    inspected: defaultdict[tuple[str, str], int] = defaultdict(int)
    for (route,) in session.execute(query.order_by(DeclarationRow.id.desc()).limit(RECENT_SAMPLE)):
        key = (str(route.get("grade", "?")), str(route.get("credit_tier", "?")))
        routed[key] += 1
        inspected[key] += 1 if route.get("inspected") else 0
    return {key: (inspected[key], count) for key, count in sorted(routed.items())}


def certificate_of_entry(session: Session, entry_id: int) -> int | None:
    """The certificate a ledger entry is written on: the page a refused reversal request returns to."""
    found: int | None = session.scalar(select(LedgerEntryRow.certificate_id).where(LedgerEntryRow.id == entry_id))
    return found


def application_ports(session: Session, application_id: int) -> list[str]:
    """口岸: the ports the application named; D2 holds a declaration at any other (empty: any port)."""
    return list(session.scalar(_PORTS, {"application_id": application_id}) or [])


_PORTS = select(ApplicationRow.ports).where(ApplicationRow.id == bindparam("application_id"))


def active_certificates(
    session: Session, district: str | None, search: str, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """The port desk's list: a district's active certificates, newest first, by certificate number or enterprise.

    `search` matches the start of a certificate number, or any part of an enterprise's name (Chinese or English) or
    its unified social credit code. Paged by id (`before`), so a page costs the same on the thousandth page.
    """
    query = (
        select(CertificateRow, EnterpriseRow.name, EnterpriseRow.name_en)
        .join(EnterpriseRow, EnterpriseRow.id == CertificateRow.enterprise_id)
        .where(CertificateRow.state == "active")
    )
    if district is not None:
        query = query.where(CertificateRow.district == district)
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            CertificateRow.certificate_no.startswith(search.upper(), autoescape=True)
            | EnterpriseRow.name.like(like, escape="\\")
            | EnterpriseRow.name_en.ilike(like, escape="\\")
            | (EnterpriseRow.uscc == search.upper())
        )
    if before is not None:
        query = query.where(CertificateRow.id < before)
    rows = session.execute(query.order_by(CertificateRow.id.desc()).limit(limit)).all()
    return [
        {**_certificate_row(row, []), "direction": row.direction, "enterprise": name, "enterprise_en": name_en}
        for row, name, name_en in rows
    ]
