"""The SQLAlchemy unit of work: one session, one transaction, and the outbox relayed right after commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from workflow.domain.calendar import WorkingCalendar
from workflow.store.assessments import SqlAssessments
from workflow.store.draw_keys import SqlDraws
from workflow.store.enterprise_admin import SqlEnterpriseAdmin
from workflow.store.ledger import SqlDeclarations, SqlIdempotency, SqlLedger
from workflow.store.notifications import SqlNotifications
from workflow.store.receipts import SqlReceipts
from workflow.store.repositories import (
    AuditTrail,
    SqlApplications,
    SqlCertificates,
    SqlDocuments,
    SqlEnterprises,
    SqlOutbox,
)
from workflow.store.request_transaction import after_commit, step


class SqlUnitOfWork:
    """State, audit events and outbox rows commit together; `after_commit` then relays the new outbox rows."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        now: Callable[[], datetime],
        after_commit: Callable[[], object] | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self._sessions, self._now, self._after_commit = sessions, now, after_commit
        self._calendar = calendar  # the applications' stored decision due date is computed with it

    def __enter__(self) -> Self:
        self.session = self._sessions()
        self.audit = audit = AuditTrail(self.session, self._now)
        self.outbox = SqlOutbox(self.session, self._now)
        self.applications = SqlApplications(self.session, audit, self.outbox, self._now, self._calendar)
        self.certificates = SqlCertificates(self.session, audit, self.outbox, self._now)
        self.enterprises = SqlEnterprises(self.session)
        self.documents = SqlDocuments(self.session, self._now)
        self.ledger = SqlLedger(self.session, self._now)
        self.declarations = SqlDeclarations(self.session, audit, self.outbox, self._now)
        self.idempotency = SqlIdempotency(self.session, self._now)
        self.notifications = SqlNotifications(self.session, self._now)
        self.assessments = SqlAssessments(self.session, self._now)
        self.receipts = SqlReceipts(self.session, self._now)
        self.enterprise_admin = SqlEnterpriseAdmin(self.session, audit, self._now)
        self.draws = SqlDraws(self.session, self._now)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()
        self.session.close()

    def commit(self) -> None:
        self.draws.flush_carries()  # after the line writes of the transaction, before the audit events
        self.audit.insert()  # unsealed: the sequencer seals them within seconds, no chain lock is taken here
        self.session.commit()
        step("unit of work committed")
        if self.outbox.added and self._after_commit is not None:
            self.outbox.added = 0
            after_commit(self._after_commit)  # inside a request's one transaction, once that has committed

    def rollback(self) -> None:
        self.audit.discard()
        self.session.rollback()
