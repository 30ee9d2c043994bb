"""The SQLAlchemy unit of work: one session, one transaction, and its outbox rows published right after commit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workflow.domain.calendar import WorkingCalendar
from workflow.domain.errors import DuplicateRequest
from workflow.store import district_counts
from workflow.store.assessments import SqlAssessments
from workflow.store.certificate_changes import SqlCertificateChanges
from workflow.store.credit_events import SqlCreditEvents
from workflow.store.draw_keys import SqlDraws
from workflow.store.enterprise_admin import SqlEnterpriseAdmin
from workflow.store.laboratories import SqlLaboratories
from workflow.store.ledger import SqlDeclarations, SqlIdempotency, SqlLedger
from workflow.store.notifications import SqlNotifications
from workflow.store.outbox import OutboxRelay
from workflow.store.outbox_completion import SentRow
from workflow.store.read_sessions import begin_reading, end_reading
from workflow.store.receipts import SqlReceipts
from workflow.store.replacements import SqlReplacements
from workflow.store.repositories import (
    AuditTrail,
    SqlApplications,
    SqlCertificates,
    SqlDocuments,
    SqlEnterprises,
    SqlOutbox,
    lost_grant_as_conflict,
    take_guarded,
)
from workflow.store.request_transaction import after_commit, step
from workflow.store.sessions import RequestSession
from workflow.store.step_reads import SqlStepReads
from workflow.store.tables import AuditEventRow, DistrictCountDeltaRow, LedgerEntryRow, OutboxRow
from workflow.store.together import Fanned, TableRows, insert_returning, insert_together, take_staged, write_together


class SqlUnitOfWork:
    """State, audit events and outbox rows commit together; `after_commit` then relays the new outbox rows."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        now: Callable[[], datetime],
        relay: OutboxRelay | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self._sessions, self._now, self._relay = sessions, now, relay
        self._calendar = calendar  # the applications' stored decision due date is computed with it
        self._reads_only = False

    def reading(self) -> Self:
        """Only reads: its transaction is READ ONLY on PostgreSQL and ends in COMMIT (workflow/store/read_sessions.py).

        A unit of work closes with ROLLBACK, which makes psycopg forget every statement it prepared on the connection.
        """
        self._reads_only = True
        return self

    def __enter__(self) -> Self:
        self.session = begin_reading(self._sessions()) if self._reads_only else self._writing_session()
        self.audit = audit = AuditTrail(self.session, self._now)
        self.outbox = SqlOutbox(self.session, self._now, self._relay.redeliver_after if self._relay else None)
        self.applications = SqlApplications(self.session, audit, self.outbox, self._now, self._calendar)
        self.certificates = SqlCertificates(self.session, audit, self.outbox, self._now)
        self.certificate_changes = SqlCertificateChanges(self.session, self._now)
        self.replacements = SqlReplacements(self.session)
        self.enterprises = SqlEnterprises(self.session)
        self.documents = SqlDocuments(self.session, self._now)
        self.ledger = SqlLedger(self.session, self._now)
        self.declarations = SqlDeclarations(self.session, audit, self.outbox, self._now)
        self.idempotency = SqlIdempotency(self.session, self._now)
        self.notifications = SqlNotifications(self.session, self._now, self.outbox)
        self.assessments = SqlAssessments(self.session, self._now)
        self.receipts = SqlReceipts(self.session)
        self.enterprise_admin = SqlEnterpriseAdmin(self.session, audit, self._now)
        self.draws = SqlDraws(self.session, self._now)
        self.laboratories = SqlLaboratories(self.session, self._now)
        self.credit = SqlCreditEvents(self.session, audit, self._now)
        self.step_reads = SqlStepReads(self.session)
        return self

    def _writing_session(self) -> Session:
        session = self._sessions()
        if isinstance(session, RequestSession):
            session.own_connection()  # one connection, its transaction begun and ended on it
        return session

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reads_only:
            end_reading(self.session, exc)
            return
        self.rollback()
        self.session.close()

    def write_declared(
        self, entries: Sequence[dict[str, Any]], changes: Mapping[int, tuple[Decimal, Decimal]]
    ) -> dict[int, Decimal] | None:
        """A declaration request's rows, written before it takes a line lock, then its lines drawn (`draw_many`).

        Its staged declarations and their lines, its audit events so far and its ledger entries (each with the id
        drawn for it ahead): one statement on PostgreSQL, with the draw itself when it is of a single line. A
        number its enterprise filed concurrently fails the unique key: the request runs again.
        """
        staged = take_staged(self.session)
        written = [*staged.inserts, TableRows(AuditEventRow, self.audit.take_rows())]
        written.append(TableRows(LedgerEntryRow, self.ledger.stamped(entries)))
        connection, draw = self.session.connection(), self.ledger.draw_together(changes)
        try:
            if draw is not None:
                return self.ledger.drawn_together(changes, insert_returning(connection, written, draw, staged.updates))
            insert_together(connection, written, None, updates=staged.updates)
        except IntegrityError as error:
            raise DuplicateRequest("a declaration of this request was filed concurrently") from error
        return self.ledger.draw_many(changes) if changes else {}

    def commit(self) -> None:
        self.draws.flush_carries()  # after the line writes of the transaction, before the audit events
        sent = self._write_last()
        self.session.commit()
        step("unit of work committed")
        if sent and self._relay is not None:
            relay = self._relay
            after_commit(lambda: relay.publish_sent(sent))  # inside a request's one transaction, once that committed

    def _write_last(self) -> list[SentRow]:
        """The transaction's last rows, in one statement on PostgreSQL (workflow/store/together.py).

        Its audit events (unsealed: the sequencer seals them within seconds, no chain lock is taken here), the
        dashboard's count deltas, its outbox rows (as sent when a relay publishes them after the commit), and the
        version-guarded UPDATE of an aggregate saved `at_commit`, whose lost race fails the commit; the rows
        staged since the last such statement (movements queued for their receipts, a grant's certificate and its
        lines); and the notices
        asked for, with their e-mail copies' outbox rows (workflow/store/notifications.py).
        """
        events = TableRows(AuditEventRow, self.audit.take_rows())
        deltas = TableRows(DistrictCountDeltaRow, district_counts.take_pending(self.session))
        outbox = self.outbox.rows()
        guarded = take_guarded(self.session)  # an aggregate saved `at_commit`: its guarded UPDATE goes along
        staged, connection = take_staged(self.session), self.session.connection()
        written, sent = [*staged.inserts, events, deltas], TableRows(OutboxRow, outbox)
        told = self.notifications.take_asked(self._email_copy)
        with lost_grant_as_conflict(guarded.row_id if guarded else None):  # a grant's staged certificate
            together = write_together(connection, written, sent, guarded, staged.updates, told)
        return self.outbox.written(together.ids) + self._copies_sent(told, together.copies)

    def _email_copy(self, task: str) -> dict[str, Any]:
        """An e-mail copy's outbox row as the outbox writes its own rows; the notification is named by the statement."""
        outbox = SqlOutbox(self.session, self._now, self.outbox.sent_after_commit)
        outbox.add(task, {})
        return outbox.rows()[0]

    def _copies_sent(self, told: Sequence[Fanned], copies: Sequence[Sequence[tuple[int, int]]]) -> list[SentRow]:
        """The e-mail copies written with the notices, for the relay to publish as it does the other rows."""
        if self.outbox.sent_after_commit is None:
            return []  # no relay: they wait for beat's sweep, as the other rows do
        return [
            SentRow(copy_id, fan.copy.rows[0]["task"], {**fan.copy.rows[0]["payload"], fan.copy_key: notification_id})
            for fan, pairs in zip(told, copies, strict=True)
            if fan.copy is not None
            for copy_id, notification_id in pairs
        ]

    def rollback(self) -> None:
        take_guarded(self.session)
        take_staged(self.session)
        self.audit.discard()
        self.outbox.discard()
        self.notifications.discard()
        district_counts.discard_pending(self.session)
        self.session.rollback()
