"""The composition root: wires settings, the database, the policy book, the calendar and a Celery publisher.

Entrypoints (web, worker, CLI) call `bootstrap(settings)`; nothing here connects at import time. Web and tasks
both import this module, never each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import Celery
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from config.celery_config import celery_settings, task_name
from config.clock import SystemClock
from config.documents import FileDocumentStore
from config.holidays import load_calendar
from config.profiles import load_districts, load_policies
from config.settings import Settings, load_settings
from config.signing import key_ring
from workflow.domain.calendar import WorkingCalendar
from workflow.service.messagebus import MessageBus
from workflow.service.ports import Clock, Dependencies, PolicyBook
from workflow.store.audit_sequencer import AuditSequencer
from workflow.store.engine import make_engine, make_session_factory
from workflow.store.outbox import OutboxRelay
from workflow.store.uow import SqlUnitOfWork

PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


@dataclass
class Container:
    """One per process: the live objects every entrypoint shares."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    celery: Celery
    deps: Dependencies
    bus: MessageBus
    relay: OutboxRelay
    sequencer: AuditSequencer

    def publish(self, task: str, payload: dict[str, Any], message_id: str) -> None:
        # A short retry: the row stays in the outbox if the broker is down, and beat's relay sends it later, so a
        # web request must not hang on Celery's default publish retries during an outage.
        self.celery.send_task(
            task_name(task), kwargs=payload, task_id=message_id, retry=True, retry_policy=PUBLISH_RETRY
        )

    def health(self) -> dict[str, dict[str, Any]]:
        """Database, broker and worker, each up or down with the reason; the web maps it to 200/503."""
        return {
            "database": _probe(self._check_database),
            "broker": _probe(self._check_broker),
            "worker": _probe(self._check_worker),
        }

    def dispose(self) -> None:
        self.engine.dispose()

    def _check_database(self) -> str:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return self.engine.dialect.name

    def _check_broker(self) -> str:
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return connection.transport_cls if isinstance(connection.transport_cls, str) else "memory"

    def _check_worker(self) -> str:
        replies = self.celery.control.ping(timeout=self.settings.worker_ping_timeout)
        if not replies:
            raise RuntimeError(f"no worker answered a ping within {self.settings.worker_ping_timeout:g} s")
        return ", ".join(sorted(name for reply in replies for name in reply))


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    policies: PolicyBook | None = None,
    calendar: WorkingCalendar | None = None,
    relay_after_commit: bool = True,
) -> Container:
    """Build the container; pass fakes for any dependency a test wants to control."""
    settings = settings or load_settings()
    clock = clock or SystemClock()
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    celery = Celery("specgoods", set_as_current=False)
    celery.conf.update(celery_settings(settings))
    relay = _relay(settings, sessions, clock)
    publisher = relay if relay_after_commit else None
    calendar = calendar or load_calendar(settings.calendar_file)
    deps = Dependencies(
        uow=lambda: SqlUnitOfWork(sessions, clock.now, publisher, calendar),
        clock=clock,
        policies=policies or load_districts(settings.districts_file, load_policies(settings.policies_dir)),
        calendar=calendar,
        documents=FileDocumentStore(settings.instance_path / "documents"),
        sign=key_ring(settings).sign_named,
    )
    sequencer = AuditSequencer(engine, key_ring(settings).sign_named, clock.now)  # beat runs it every second
    container = Container(settings, engine, sessions, celery, deps, MessageBus(deps), relay, sequencer)
    relay.publish = container.publish
    return container


def _relay(settings: Settings, sessions: sessionmaker[Session], clock: Clock) -> OutboxRelay:
    """The relay publishes through the container once it exists (`container.publish`)."""
    redeliver_after = timedelta(seconds=settings.outbox_redeliver_seconds)
    return OutboxRelay(sessions, lambda *_: None, clock.now, redeliver_after)


def _probe(check: Any) -> dict[str, Any]:
    try:
        return {"up": True, "detail": check()}
    except Exception as exc:  # noqa: BLE001 - a health probe reports any failure instead of raising it
        return {"up": False, "detail": f"{type(exc).__name__}: {exc}"}
