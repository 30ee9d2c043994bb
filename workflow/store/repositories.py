"""Repositories: aggregates in and out of the tables, with a version-guarded UPDATE for every state change."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, column, delete, func, insert, literal, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow.domain.actors import Actor, Role
from workflow.domain.bans import ApplicantBan
from workflow.domain.calendar import WorkingCalendar
from workflow.domain.credit import CreditRecord
from workflow.domain.declaration import Declaration
from workflow.domain.errors import CalendarRangeError, ConcurrencyConflict, NotFound
from workflow.domain.goods import Direction, ProductIdentity, RiskGrade, WriteOffMode
from workflow.domain.lifecycle import AppState, CertState
from workflow.domain.local_days import DistrictScope
from workflow.domain.model import Aggregate, Application, Certificate, CertificateLine, OutboxRequest, TransitionRecord
from workflow.domain.policy import CreditRegime, CreditTier
from workflow.service.ports import EnterpriseInfo
from workflow.store import district_counts, granted_products
from workflow.store.bulk import insert_rows, insert_rows_returning_ids
from workflow.store.codec import clock_from_json, clock_to_json, line_from_stored, line_to_json
from workflow.store.directory import actor_of
from workflow.store.driver_statements import plain_rows
from workflow.store.outbox_completion import SentRow, sent_at_commit
from workflow.store.outbox_trace import stamped
from workflow.store.tables import (
    ApplicantBanRow,
    ApplicationLineRow,
    ApplicationRow,
    CertificateLineRow,
    CertificateRow,
    CreditRecordRow,
    DocumentRow,
    EnterpriseRow,
    OutboxRow,
    UserRow,
)
from workflow.store.together import GuardedRow, TableRows, stage, update_if_version

Now = Callable[[], datetime]


def skip_locked(session: Session, query: Any, of: Any = None) -> Any:
    """Sweeps lock what they take and skip what another sweep holds (PostgreSQL); SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=of)
    return query


def in_scope(column: Any, scope: DistrictScope) -> Any:
    """The WHERE clause of a sweep's district scope: the districts whose local date the sweep acts on."""
    if scope.only is not None:
        return column.in_(scope.only)
    return column.not_in(scope.besides) if scope.besides else true()


class AuditTrail:
    """Collects the transition records of a transaction as audit events; the unit of work writes them, unsealed."""

    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now
        self.pending: list[dict[str, Any]] = []

    def write(
        self, object_type: str, aggregate: Aggregate, ref: str, district: str, records: Sequence[TransitionRecord]
    ) -> None:
        assert aggregate.id is not None
        if not records:
            return
        now = self.now()
        rows = [
            {
                "object_type": object_type,
                "object_id": aggregate.id,
                "object_ref": ref,
                "district": district,
                "actor_id": record.actor.user_id,
                "actor_role": record.actor.role.value,
                "actor_name": record.actor.name,
                "at": now,
                "trigger": record.trigger,
                "from_state": record.from_state,
                "to_state": record.to_state,
                "reason": record.reason,
                "policy_id": aggregate.policy_id,
                "policy_hash": aggregate.policy_hash,
                "rule_ids": list(record.rule_ids),
                "inputs": dict(record.inputs),
            }
            for record in records
        ]
        self.pending.extend(rows)

    def take_rows(self) -> list[dict[str, Any]]:
        """The events, for the commit's last statement to insert (the unit of work's `commit`).

        Their rule ids and inputs go as they are: the insert's own JSON encoding gives them their stored form (lists
        for tuples, text for keys), and the sequencer hashes what was stored. A round trip through JSON here first
        cost a declaration 4 % of its client CPU for nothing (docs/performance.md).
        """
        rows, self.pending = self.pending, []
        return rows

    def discard(self) -> None:
        self.pending = []


class SqlOutbox:
    """Task messages written in the same transaction as the change that asked for them: one INSERT, at commit.

    Given the relay's redelivery wait, the rows are written as sent and `insert` returns them for the relay to
    publish once the commit is done (workflow/store/outbox.py); without it, they wait unsent for beat's sweep.
    """

    def __init__(self, session: Session, now: Now, sent_after_commit: timedelta | None = None) -> None:
        self.session, self.now = session, now
        self.sent_after_commit = sent_after_commit
        self.pending: list[tuple[str, dict[str, Any]]] = []

    def add(self, task: str, payload: dict[str, Any]) -> None:
        self.pending.append((task, stamped(payload)))  # the request that asked for it, for its task's log line

    def add_requests(self, requests: Sequence[OutboxRequest]) -> None:
        for request in requests:
            self.add(request.task, dict(request.payload))

    def discard(self) -> None:
        self.pending = []

    def insert(self) -> list[SentRow]:
        """Write the rows asked for; those written as sent, for the relay to publish after the commit."""
        rows = self.rows()
        return self.written(insert_rows_returning_ids(self.session.connection(), OutboxRow, rows) if rows else [])

    def rows(self) -> list[dict[str, Any]]:
        """The rows asked for, as stored: as sent when there is a relay to publish them after the commit."""
        now, after = self.now(), self.sent_after_commit
        state = sent_at_commit(now, after) if after is not None else {}
        return [{"task": task, "payload": payload, "created_at": now, **state} for task, payload in self.pending]

    def written(self, ids: Sequence[int]) -> list[SentRow]:
        """The rows asked for are written with these ids: those the relay publishes after the commit."""
        written = [SentRow(row_id, task, payload) for row_id, (task, payload) in zip(ids, self.pending, strict=True)]
        self.pending = []
        return written if self.sent_after_commit is not None else []


def _guarded_update(session: Session, table: Any, aggregate: Any, values: dict[str, Any]) -> None:
    """UPDATE … WHERE id = ? AND version = ?: of two concurrent writers exactly one matches a row."""
    update_if_version(session.connection(), GuardedRow(table, aggregate.id, aggregate.version, values))
    aggregate.version += 1


GUARDED_AT_COMMIT = "guarded_at_commit"


def guard_at_commit(session: Session, table: Any, aggregate: Any, values: dict[str, Any]) -> None:
    """The same guarded UPDATE, kept for the unit of work's last statement (workflow/store/together.py)."""
    if GUARDED_AT_COMMIT in session.info:
        raise RuntimeError("one change per transaction is saved at commit")  # a second would race the first's guard
    session.info[GUARDED_AT_COMMIT] = GuardedRow(table, aggregate.id, aggregate.version, values)
    aggregate.version += 1


def take_guarded(session: Session) -> GuardedRow | None:
    guarded: GuardedRow | None = session.info.pop(GUARDED_AT_COMMIT, None)
    return guarded


class _AggregateRepository:
    """Shared by the aggregate repositories: pending transitions become audit events and outbox rows."""

    object_type = ""

    def __init__(self, session: Session, audit: AuditTrail, outbox: SqlOutbox, now: Now) -> None:
        self.session, self.audit, self.outbox, self.now = session, audit, outbox, now

    def _flush_pending(self, aggregate: Application | Certificate | Declaration, ref: str) -> None:
        records, requests = aggregate.take_pending()
        self.audit.write(self.object_type, aggregate, ref, aggregate.district, records)
        self.outbox.add_requests(requests)


# The columns an Application is made of (and `save` writes, with `decision_due_on` and `updated_at`).
_STORED = (
    "enterprise_id", "district", "direction", "state", "grade", "is_first_time", "paperless", "received_on",
    "accepted_on", "acceptor_id", "reviewer_id", "decider_id", "correction_notices", "ports", "claimed_by",
    "claimed_at", "screening", "clock", "decision_reason", "policy_id", "policy_hash",
)  # fmt: skip
# An application and its goods, read on every step of its lifecycle: one statement built once, a row per line, only
# the columns the aggregate is made of (the stored ones first, in `_STORED`'s order).
_APPLICATION = (
    select(
        *(ApplicationRow.__table__.c[name] for name in _STORED),
        ApplicationRow.id,
        ApplicationRow.reference,
        ApplicationRow.version,
        cast(ApplicationLineRow.facts, Text).label("line_facts"),  # parsed once per text
    )
    .outerjoin(ApplicationLineRow, ApplicationLineRow.application_id == ApplicationRow.id)
    .where(ApplicationRow.id == bindparam("id"))
    .order_by(ApplicationLineRow.line_no)
)
_READ = len(_STORED)  # the position of `id` in a row of `_APPLICATION`
# The stored columns an Application takes as they are; the others are converted in `SqlApplications.get`.
_AS_STORED = tuple(name for name in _STORED if name not in {"direction", "state", "grade", "clock", "ports"})
_UNREAD = object()  # a column `save` writes that the snapshot lacks: always written


class SqlApplications(_AggregateRepository):
    object_type = "application"

    def __init__(
        self, session: Session, audit: AuditTrail, outbox: SqlOutbox, now: Now, calendar: WorkingCalendar | None = None
    ) -> None:
        super().__init__(session, audit, outbox, now)
        self.calendar = calendar
        # Per application read or saved in this transaction: its version and stored columns then, so that `save`
        # writes only the columns that changed (the version guard vouches for the rest being still as read).
        self._stored: dict[int, tuple[int, dict[str, Any]]] = {}

    def add(self, application: Application) -> Application:
        row = ApplicationRow(
            reference=uuid.uuid4().hex[:32], created_at=self.now(), updated_at=self.now(), **self._columns(application)
        )
        self.session.add(row)
        self.session.flush()
        row.reference = application.reference = f"{application.district[:2].upper()}{row.created_at:%Y}{row.id:07d}"
        application.id = row.id
        self.session.add_all(self._line_rows(application))
        district_counts.count_new_application(self.session, application.district, str(application.state))
        self._flush_pending(application, application.reference)
        return application

    def get(self, application_id: int) -> Application:
        rows = plain_rows(self.session.connection(), _APPLICATION, {"id": application_id})
        if not rows:
            raise NotFound(f"no application {application_id}")
        row = rows[0]
        stored = dict(zip(_STORED, row, strict=False))
        row_id, reference, version = row[_READ : _READ + 3]
        self._stored[row_id] = (version, stored)
        grade, clock, ports = stored["grade"], stored["clock"], stored["ports"]
        return Application(
            id=row_id,
            reference=reference,
            version=version,
            lines=[line_from_stored(found.line_facts) for found in rows if found.line_facts is not None],
            **{name: stored[name] for name in _AS_STORED},
            direction=Direction(stored["direction"]),
            state=AppState(stored["state"]),
            grade=RiskGrade(grade) if grade else None,
            clock=clock_from_json(clock),
            ports=tuple(ports or ()),
        )

    def save(self, application: Application, at_commit: bool = False) -> None:
        assert application.id is not None
        columns, read_version = self._columns(application), application.version
        values = {**self._changed(application.id, read_version, columns), "decision_due_on": self._due_on(application)}
        values["updated_at"] = self.now()
        if at_commit:
            guard_at_commit(self.session, ApplicationRow, application, values)
        else:
            _guarded_update(self.session, ApplicationRow, application, values)
        self._stored[application.id] = (application.version, columns)
        district_counts.count_moves(self.session, application.district, application.pending)  # before they are taken
        self._flush_pending(application, application.reference)

    def _changed(self, application_id: int, version: int, columns: dict[str, Any]) -> dict[str, Any]:
        """The columns that differ from the row at the version the aggregate was read at; all of them if unknown.

        The domain replaces a screening or a clock, never edits one in place, so an equal value is an unchanged one.
        """
        stored = self._stored.get(application_id)
        if stored is None or stored[0] != version:
            return columns
        before = stored[1]
        return {name: value for name, value in columns.items() if before.get(name, _UNREAD) != value}

    def count_decision(self, application: Application, decided_on: date) -> None:
        """The dashboard's count of a grant or denial on its day, with its working days and lateness (R19–R22)."""
        if self.calendar is not None:
            figures = district_counts.decision_figures(
                self.calendar, application.received_on, application.clock, decided_on
            )
            district_counts.count_decision(self.session, application.district, figures)

    def _due_on(self, application: Application) -> date | None:
        """Stored so the queue filters by an indexed column; a date beyond the holiday table stores none."""
        if self.calendar is None:
            return None
        try:
            return application.decision_due_on(self.calendar)
        except CalendarRangeError:
            return None

    def replace_lines(self, application: Application) -> None:
        """A revised draft's goods lines, after `save` won the version guard in the same transaction."""
        assert application.id is not None
        self.session.execute(delete(ApplicationLineRow).where(ApplicationLineRow.application_id == application.id))
        self.session.add_all(self._line_rows(application))

    @staticmethod
    def _line_rows(application: Application) -> list[ApplicationLineRow]:
        assert application.id is not None
        return [
            ApplicationLineRow(
                application_id=application.id,
                line_no=n,
                name_zh=line.name_zh,
                category=line.category,
                quantity=line.quantity,
                unit=line.unit,
                facts=line_to_json(line),
            )
            for n, line in enumerate(application.lines, start=1)
        ]

    @staticmethod
    def _columns(app: Application) -> dict[str, Any]:
        return {
            "enterprise_id": app.enterprise_id,
            "district": app.district,
            "direction": app.direction.value,
            "state": str(app.state),
            "grade": app.grade.value if app.grade else None,
            "is_first_time": app.is_first_time,
            "paperless": app.paperless,
            "received_on": app.received_on,
            "accepted_on": app.accepted_on,
            "acceptor_id": app.acceptor_id,
            "reviewer_id": app.reviewer_id,
            "decider_id": app.decider_id,
            "correction_notices": app.correction_notices,
            "ports": list(app.ports),
            "claimed_by": app.claimed_by,
            "claimed_at": app.claimed_at,
            "screening": app.screening,
            "clock": clock_to_json(app.clock),
            "decision_reason": app.decision_reason,
            "policy_id": app.policy_id,
            "policy_hash": app.policy_hash,
        }


def _number_prefix(certificate: Certificate, issued_at: datetime) -> str:
    """District prefix, year and direction letter; the row id after them keeps numbers unique and readable."""
    direction = "I" if certificate.direction is Direction.ENTRY else "E"
    return f"{certificate.district[:2].upper()}{issued_at:%Y}{direction}"


def _certificate_no(certificate: Certificate, issued_at: datetime) -> str:
    return f"{_number_prefix(certificate, issued_at)}{certificate.id:06d}"


def _line_rows(certificate: Certificate) -> list[dict[str, Any]]:
    return [
        {
            "certificate_id": certificate.id,
            "line_no": line.line_no,
            "name_zh": line.name_zh,
            "unit": line.unit,
            "approved_qty": line.approved_qty,
        }
        for line in certificate.lines
    ]


_NUMBER_CERTIFICATE = (
    update(CertificateRow)
    .where(CertificateRow.id == bindparam("certificate_id"))
    .values(certificate_no=bindparam("number"))
)
_LINE_VALUES = ("line_no", "name_zh", "unit", "approved_qty")


@cache
def _issue_statement(values: tuple[str, ...]) -> Any:
    """PostgreSQL: the certificate, numbered by the id it draws, and its lines, in one statement (built once).

    The id comes from the table's sequence in a CTE read three times, so `nextval` runs once; the number is
    `_certificate_no`'s: the prefix given, the id zero-padded to at least six digits. Returns the id and the number.
    """
    certificates, lines = CertificateRow.__table__, CertificateLineRow.__table__
    sequence = func.pg_get_serial_sequence(CertificateRow.__tablename__, "id")
    drawn = select(func.nextval(sequence).label("id")).cte("drawn")
    digits = cast(drawn.c.id, Text)
    number = bindparam("number_prefix", type_=Text) + func.lpad(digits, func.greatest(6, func.length(digits)), "0")
    given = {"id": drawn.c.id, "certificate_no": number, **{key: bindparam(key) for key in values}}
    certificate = _insert_selected(certificates, given, drawn)
    arrays = [bindparam(key, type_=ARRAY(lines.c[key].type)) for key in _LINE_VALUES]
    columns = [column(key, lines.c[key].type) for key in _LINE_VALUES]
    unnested = func.unnest(*arrays).table_valued(*columns).render_derived()
    line_values = {"certificate_id": drawn.c.id, **{key: unnested.c[key] for key in _LINE_VALUES}}
    certificate_lines = _insert_selected(lines, line_values, drawn.join(unnested, true()))  # one drawn id: no product
    return select(drawn.c.id, number.label("certificate_no")).add_cte(
        certificate.cte("issued"), certificate_lines.cte("issued_lines")
    )


def _insert_selected(table: Any, values: dict[str, Any], source: Any) -> Any:
    """INSERT … SELECT of these values, and the declared default of every other column that has one.

    Inside a CTE the defaults must be in the statement: nobody fills them in for an INSERT that is not executed alone.
    """
    defaults = {
        column.key: literal(column.default.arg, column.type)
        for column in table.columns
        if column.key not in values and column.default is not None and column.default.is_scalar
    }
    chosen = {**values, **defaults}
    selected = select(*chosen.values()).select_from(source)
    return insert(table).from_select(list(chosen), selected, include_defaults=False)


@contextmanager
def lost_grant_as_conflict(application_id: int | None) -> Iterator[None]:
    """A grant whose certificate is another transaction's fails as a version guard would: ConcurrencyConflict.

    UNIQUE (certificates.application_id) decides the race, at the certificate's insert or, with the certificate
    staged, at the commit's last statement; any other integrity error goes on as it is.
    """
    try:
        yield
    except IntegrityError as error:
        message = str(error.orig)
        if "uq_certificates_application_id" not in message and "certificates.application_id" not in message:
            raise
        which = f"application {application_id}" if application_id is not None else "the application"
        raise ConcurrencyConflict(f"{which} was decided by someone else; reload it") from error


class SqlCertificates(_AggregateRepository):
    object_type = "certificate"

    def add(self, certificate: Certificate, at_commit: bool = False) -> Certificate:
        """The certificate and its lines; its number (审批单编号) is made of its id.

        An id drawn ahead (a grant's read draws it on PostgreSQL) numbers it here, and with `at_commit` its rows are
        staged for the commit's last statement (workflow/store/together.py): one statement fewer per grant. A grant
        that supersedes a certificate reads its own certificate before the commit, so it inserts now.

        A concurrent grant of the same application that committed first, or commits while this one waits on the
        unique key, makes this one lose: ConcurrencyConflict, as a version guard would (the grant's guarded UPDATE
        goes with the commit; with the certificate staged, the unique key decides there: `lost_grant_as_conflict`).
        """
        with lost_grant_as_conflict(certificate.application_id):
            self._insert(certificate, self.now(), at_commit)
        # Rendering needs the id, which only the insert gives: hence asked for here, not in `record_issue`.
        certificate.requests.append(OutboxRequest("render_certificate", {"certificate_id": certificate.id}))
        district_counts.count_new_certificate(
            self.session, certificate.district, certificate.paperless, certificate.valid_from
        )
        self._flush_pending(certificate, certificate.certificate_no)
        return certificate

    def _insert(self, certificate: Certificate, issued_at: datetime, at_commit: bool) -> None:
        connection, row = self.session.connection(), {"issued_at": issued_at, **self._columns(certificate)}
        if certificate.id is not None:  # drawn ahead: numbered here, its rows staged or inserted now
            certificate.certificate_no = _certificate_no(certificate, issued_at)
            issued = [{**row, "id": certificate.id, "certificate_no": certificate.certificate_no}]
            if at_commit:
                stage(self.session, TableRows(CertificateRow, issued))
                stage(self.session, TableRows(CertificateLineRow, _line_rows(certificate)))
            else:
                insert_rows(connection, CertificateRow, issued)
                insert_rows(connection, CertificateLineRow, _line_rows(certificate))
        elif connection.dialect.name == "postgresql":  # one statement: the id drawn, the certificate, its lines
            lines = {key: [getattr(line, key) for line in certificate.lines] for key in _LINE_VALUES}
            parameters = {**row, **lines, "number_prefix": _number_prefix(certificate, issued_at)}
            issue = _issue_statement(tuple(row))
            [(certificate.id, certificate.certificate_no)] = plain_rows(connection, issue, parameters)
        else:  # inserted under a provisional number, then numbered
            provisional = {**row, "certificate_no": uuid.uuid4().hex[:32]}
            (certificate.id,) = insert_rows_returning_ids(connection, CertificateRow, [provisional])
            certificate.certificate_no = _certificate_no(certificate, issued_at)
            connection.execute(
                _NUMBER_CERTIFICATE, {"certificate_id": certificate.id, "number": certificate.certificate_no}
            )
            insert_rows(connection, CertificateLineRow, _line_rows(certificate))

    def get(self, certificate_id: int) -> Certificate:
        row = self.session.get(CertificateRow, certificate_id, populate_existing=True)
        if row is None:
            raise NotFound(f"no certificate {certificate_id}")
        lines = self.session.scalars(
            select(CertificateLineRow)
            .where(CertificateLineRow.certificate_id == row.id)
            .order_by(CertificateLineRow.line_no)
        )
        return Certificate(
            id=row.id,
            certificate_no=row.certificate_no,
            application_id=row.application_id,
            enterprise_id=row.enterprise_id,
            district=row.district,
            direction=Direction(row.direction),
            grade=RiskGrade(row.grade),
            write_off_mode=WriteOffMode(row.write_off_mode),
            paperless=row.paperless,
            follow_up=row.follow_up,
            state=CertState(row.state),
            version=row.version,
            hold=row.hold,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            policy_id=row.policy_id,
            policy_hash=row.policy_hash,
            lines=[CertificateLine(line.line_no, line.name_zh, line.unit, line.approved_qty) for line in lines],
        )

    def save(self, certificate: Certificate) -> None:
        _guarded_update(
            self.session, CertificateRow, certificate, {"state": str(certificate.state), "hold": certificate.hold}
        )
        self._flush_pending(certificate, certificate.certificate_no)

    @staticmethod
    def _columns(cert: Certificate) -> dict[str, Any]:
        return {
            "application_id": cert.application_id,
            "enterprise_id": cert.enterprise_id,
            "district": cert.district,
            "direction": cert.direction.value,
            "grade": cert.grade.value,
            "write_off_mode": cert.write_off_mode.value,
            "paperless": cert.paperless,
            "follow_up": cert.follow_up,
            "state": str(cert.state),
            "hold": cert.hold,
            "valid_from": cert.valid_from,
            "valid_until": cert.valid_until,
            "policy_id": cert.policy_id,
            "policy_hash": cert.policy_hash,
        }


_CREDIT = CreditRecordRow
# Read on every declaration (D3's rate): built once, a compiled-cache hit each time.
_CREDIT_RECORDS = select(
    _CREDIT.enterprise_id, _CREDIT.tier, _CREDIT.regime, _CREDIT.effective_from, _CREDIT.effective_to
).where(_CREDIT.enterprise_id == bindparam("enterprise_id"))


class SqlEnterprises:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, enterprise_id: int) -> EnterpriseInfo:
        row = self.session.get(EnterpriseRow, enterprise_id)
        if row is None:
            raise NotFound(f"no enterprise {enterprise_id}")
        return EnterpriseInfo(row.id, row.name, row.district, row.is_natural_person)

    def credit_records(self, enterprise_id: int) -> list[CreditRecord]:
        rows = self.session.connection().execute(_CREDIT_RECORDS, {"enterprise_id": enterprise_id})
        return [
            CreditRecord(enterprise, CreditTier(tier), CreditRegime(regime), start, end)
            for enterprise, tier, regime, start, end in rows
        ]

    def officer(self, user_id: int) -> Actor | None:
        """An active customs user, as the actor they would act as (for reassigning a file to them)."""
        row = self.session.get(UserRow, user_id)
        if row is None or not row.active or not Role(row.role).is_customs:
            return None
        return actor_of(row)

    def banned_until(self, enterprise_id: int, on: date) -> date | None:
        """R26: the last day of the longest ban in force on `on`, if any."""
        ban = ApplicantBanRow
        query = select(func.max(ban.until_on)).where(
            ban.enterprise_id == enterprise_id, ban.from_on <= on, ban.until_on >= on
        )
        found: date | None = self.session.connection().execute(query).scalar()
        return found

    def add_ban(self, ban: ApplicantBan, source: str, reason: str, at: datetime) -> None:
        self.session.connection().execute(
            insert(ApplicantBanRow).values(
                enterprise_id=ban.enterprise_id, ground=ban.ground.value, from_on=ban.from_on, until_on=ban.until_on,
                source=source, reason=reason, created_at=at,
            )
        )  # fmt: skip

    def granted_among(self, enterprise_id: int, identities: Iterable[ProductIdentity]) -> set[ProductIdentity]:
        """R60: of these identities, those on the enterprise's granted applications, whatever became of the certificate.

        Granted means the application reached GRANTED, which it never leaves; the certificate's later state (revoked,
        withdrawn, expired) does not matter, so `granted_products` only ever gains rows (see that module).
        """
        return granted_products.granted_among(self.session.connection(), enterprise_id, identities)

    def has_grant(self, enterprise_id: int) -> bool:
        return granted_products.has_grant(self.session.connection(), enterprise_id)

    def add_granted(self, enterprise_id: int, application_id: int, identities: Iterable[ProductIdentity]) -> None:
        granted_products.add(self.session.connection(), enterprise_id, application_id, identities)


class SqlDocuments:
    def __init__(self, session: Session, now: Now) -> None:
        self.session, self.now = session, now

    def attached_types(self, application_id: int) -> set[str]:
        attached = select(DocumentRow.doc_type).where(
            DocumentRow.application_id == application_id, DocumentRow.removed_at.is_(None)
        )
        return set(self.session.scalars(attached))

    def remove(self, application_id: int, document_id: int, removed_by: int | None) -> dict[str, str] | None:
        """Mark an attached document of this application removed (kept for the record); None if there is none."""
        row = self.session.get(DocumentRow, document_id)
        if row is None or row.application_id != application_id or row.removed_at is not None:
            return None
        row.removed_at, row.removed_by = self.now(), removed_by
        self.session.flush()
        return {"doc_type": row.doc_type, "filename": row.filename}

    def add(
        self,
        application_id: int,
        doc_type: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        uploaded_by: int | None,
    ) -> int:
        row = DocumentRow(
            application_id=application_id,
            doc_type=doc_type,
            filename=filename,
            content_type=content_type,
            size=size,
            sha256=sha256,
            uploaded_by=uploaded_by,
            uploaded_at=self.now(),
        )
        self.session.add(row)
        self.session.flush()
        return row.id
