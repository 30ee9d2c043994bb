"""The composition root: wires settings, the database, the policy book, the calendar and a Celery publisher.

Entrypoints (web, worker, CLI) call `bootstrap(settings)`; nothing here connects at import time. Web and tasks
both import this module, never each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config.celery_config import celery_settings, task_name
from config.clock import SystemClock
from config.documents import FileDocumentStore
from config.holidays import load_calendar
from config.keys import key_ring
from config.profiles import load_districts, load_policies
from config.readiness import readiness
from config.settings import Settings, load_settings
from config.task_publisher import TaskPublisher
from workflow.domain.calendar import WorkingCalendar
from workflow.domain.policy import Districts
from workflow.service.messagebus import MessageBus
from workflow.service.ports import Clock, Dependencies, PolicyBook
from workflow.store.audit_sequencer import AuditSequencer
from workflow.store.engine import make_engine, make_session_factory
from workflow.store.outbox import OutboxRelay
from workflow.store.outbox_trace import REQUEST_ID_HEADER, split
from workflow.store.uow import SqlUnitOfWork

PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
REPR_MAXSIZE = 1024  # Celery's own bound on the arguments' copy in its log lines and events


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
    publisher: TaskPublisher  # Celery's messages on a producer each thread keeps

    def publish(self, task: str, payload: dict[str, Any], message_id: str) -> None:
        # A short retry: the row stays in the outbox if the broker is down, and beat's relay sends it later, so a
        # web request must not hang on Celery's default publish retries during an outage.
        arguments, request_id = split(payload)  # the id of the request that caused it rides as a header
        headers = {REQUEST_ID_HEADER: request_id} if request_id else None
        self.publisher.send(
            task_name(task),
            arguments,
            message_id,
            headers=headers,
            retry=True,
            retry_policy=PUBLISH_RETRY,
            # The log line's copy of the arguments: a few ids and short texts, so a plain repr. Celery's default,
            # saferepr, walks the payload for every message: a tenth of a publish's client CPU on the request path.
            argsrepr="()",
            kwargsrepr=repr(arguments)[:REPR_MAXSIZE],
        )

    def health(self) -> dict[str, dict[str, Any]]:
        """Database, broker and workers (heartbeats, never a ping), each up or down; the web maps it to 200/503."""
        return readiness(self.settings, self.engine)

    def dispose(self) -> None:
        self.publisher.close()
        self.engine.dispose()


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
    policies = policies or load_districts(settings.districts_file, load_policies(settings.policies_dir))
    clock = clock or SystemClock(_time_zones(policies))
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
        policies=policies,
        calendar=calendar,
        documents=FileDocumentStore(settings.instance_path / "documents"),
        sign=key_ring(settings).sign_named,
    )
    sequencer = AuditSequencer(engine, key_ring(settings).sign_named, clock.now)  # beat runs it every second
    bus, messages = MessageBus(deps), TaskPublisher(celery)
    container = Container(settings, engine, sessions, celery, deps, bus, relay, sequencer, messages)
    relay.publish = container.publish
    return container


def _relay(settings: Settings, sessions: sessionmaker[Session], clock: Clock) -> OutboxRelay:
    """The relay publishes through the container once it exists (`container.publish`)."""
    redeliver_after = timedelta(seconds=settings.outbox_redeliver_seconds)
    return OutboxRelay(sessions, lambda *_: None, clock.now, redeliver_after)


def _time_zones(policies: PolicyBook) -> dict[str, str]:
    """Each configured district's time zone; a policy book that is not the configured districts has none."""
    districts = policies.by_code if isinstance(policies, Districts) else {}
    return {code: district.time_zone for code, district in districts.items()}
