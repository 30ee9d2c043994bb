"""The worker's Celery app: tasks registered on the container's Celery instance, one container per process."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery, beat, signals
from celery.schedules import crontab
from celery.worker import WorkController

from config.bootstrap import Container, bootstrap
from config.celery_config import QUEUES
from config.settings import load_settings
from tasks import task_log
from tasks.completion import complete_outbox_rows
from tasks.dead_letters import record_dead_letters
from tasks.documents import register_document_tasks
from tasks.heartbeats import register_heartbeat
from tasks.mail import register_mail_tasks
from tasks.metrics import register_exporter
from tasks.workflow import register_tasks

log = logging.getLogger(__name__)
_containers: dict[str, Container] = {}
_parent_pid: dict[str, int] = {}
SWEEP_SECONDS = 3600.0
COUNT_FOLD_SECONDS = 10.0  # how many unfolded deltas a dashboard read adds up: about this many seconds of changes


def create_celery_app(container: Container | None = None) -> Celery:
    """Register the tasks on the container's Celery instance, so the web and worker share one in embedded mode."""
    container = container or bootstrap()
    _containers["current"] = container
    _parent_pid["pid"] = os.getpid()
    register_tasks(container.celery, current_container)
    register_mail_tasks(container.celery, current_container)
    register_document_tasks(container.celery, current_container)
    record_dead_letters(container.celery, current_container)
    complete_outbox_rows(container.celery, current_container)
    task_log.register(container.celery, container)
    register_heartbeat(container.celery, current_container)  # /readyz reads the rows it writes
    register_exporter(container.celery, current_container)
    container.celery.conf.beat_schedule = beat_schedule(container)
    return container.celery


def current_container() -> Container:
    """The process's container; after a prefork fork the child builds its own engine (connections never cross)."""
    return _containers["current"]


def beat_schedule(container: Container) -> dict[str, Any]:
    return {
        "relay-outbox": {"task": "specgoods.relay_outbox", "schedule": container.settings.outbox_relay_seconds},
        # Expired after a few periods: while no worker runs, beat's seconds-apart runs must not pile up in the queue.
        "seal-audit-chains": {
            "task": "specgoods.seal_audit_chains",
            "schedule": container.settings.audit_seal_seconds,
            "options": {"expires": max(5.0, 5 * container.settings.audit_seal_seconds)},
        },
        # Sweeps are idempotent and skip rows another sweep holds, so a late or doubled run is harmless.
        "expire-certificates": {"task": "specgoods.expire_certificates", "schedule": SWEEP_SECONDS},
        "remind-panels": {"task": "specgoods.remind_panels", "schedule": SWEEP_SECONDS},
        "sweep-clocks": {"task": "specgoods.sweep_clocks", "schedule": SWEEP_SECONDS},
        "deem-acceptances": {"task": "specgoods.deem_acceptances", "schedule": SWEEP_SECONDS},
        "exhaust-used-up": {"task": "specgoods.exhaust_used_up", "schedule": SWEEP_SECONDS},
        "flag-overdue-follow-ups": {"task": "specgoods.flag_overdue_follow_ups", "schedule": SWEEP_SECONDS},
        "publish-draw-commitments": {"task": "specgoods.publish_draw_commitments", "schedule": SWEEP_SECONDS},
        # Daily, in the morning of the districts' time (Celery's timezone); keyed, so a second run sends nothing.
        "send-reminders": {"task": "specgoods.send_reminders", "schedule": crontab(hour=8, minute=0)},
        # R69/R71: just after the districts' midnight, so a restoration due tomorrow is recorded the day before.
        "apply-credit-restorations": {
            "task": "specgoods.apply_credit_restorations",
            "schedule": crontab(hour=0, minute=30),
        },
        # R62: daily, after the districts' midnight, so a qualification that ended yesterday is caught this morning.
        "flag-lapsed-laboratories": {
            "task": "specgoods.flag_lapsed_laboratories",
            "schedule": crontab(hour=0, minute=40),
        },
        "fold-district-counts": {"task": "specgoods.fold_district_counts", "schedule": COUNT_FOLD_SECONDS},
        "checkpoint-audit-chains": {
            "task": "specgoods.checkpoint_audit_chains",
            "schedule": container.settings.audit_checkpoint_seconds,
        },
    }


@signals.worker_process_init.connect
def _fresh_engine_after_fork(**_kwargs: Any) -> None:
    """A prefork child must not reuse its parent's connections; the solo pool fires this too, in the same process."""
    container = _containers.get("current")
    if container is not None and os.getpid() != _parent_pid.get("pid"):
        container.engine.dispose(close=False)


class EmbeddedWorker:
    """A real Celery worker and beat on threads of the serve process, on the in-memory transport."""

    def __init__(self, worker: WorkController, scheduler: Any) -> None:
        self.worker, self.scheduler = worker, scheduler

    def stop(self) -> None:
        self.scheduler.stop()
        self.worker.stop(in_sighandler=False)


def start_embedded_worker(container: Container) -> EmbeddedWorker:
    """The embedded default: never `task_always_eager`; tasks really go through a broker and a worker."""
    app = create_celery_app(container)
    app.set_default()  # the worker thread runs tasks on the default app: else retries publish to Celery's own
    worker = app.WorkController(
        pool_cls="solo",
        concurrency=1,
        loglevel=container.settings.log_level,
        hostname="embedded@specgoods",
        queues=list(QUEUES),
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    threading.Thread(target=worker.start, name="celery-worker", daemon=True).start()
    schedule = container.settings.instance_path / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    scheduler = beat.EmbeddedService(app, thread=True, schedule_filename=str(schedule))
    scheduler.start()
    return EmbeddedWorker(worker, scheduler)


def __getattr__(name: str) -> Any:
    """`tasks.app:celery_app` for Flower and `celery -A`: built on first access, never at import."""
    if name == "celery_app":
        return create_celery_app(bootstrap(load_settings()))
    raise AttributeError(name)
