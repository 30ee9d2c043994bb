"""One log line per task run: the request id that caused it, the task, the object, the state and outcome, the time.

The id comes from the message header the outbox publisher set (workflow/store/outbox_trace.py); while the task runs
it is the current request id again, so the outbox rows the task writes carry it on and its other lines show it.
Beat's every-few-seconds housekeeping logs its successful runs at debug level: a line a second is noise, not news.
"""

from __future__ import annotations

import logging
import time
from contextvars import Token
from typing import Any

import structlog
from celery import Celery, signals, states

from config.bootstrap import Container
from config.celery_config import TASK_PREFIX
from config.logs import configure_logging, object_of
from tasks.completion import outcome_of
from workflow.store.outbox_trace import REQUEST_ID_HEADER, current_request_id

HOUSEKEEPING = frozenset(
    f"{TASK_PREFIX}{name}" for name in ("relay_outbox", "seal_audit_chains", "fold_district_counts")
)
# Celery's "received" and "succeeded in" lines (the task line replaces them, and they print the task's result) and
# beat's "Sending due task" (a line a second for the sealing alone): warnings and errors only.
CELERY_CHATTER = ("celery.app.trace", "celery.worker.strategy", "celery.beat")
log = structlog.get_logger("specgoods.tasks")
_running: dict[str, tuple[float, Token[str | None]]] = {}  # by task id: when it started, the id to restore after


def register(app: Celery, container: Container) -> None:
    """Signals are global: these receivers take only `app`'s tasks, and connect once per app."""
    configure_logging(container.settings)
    for name in CELERY_CHATTER:
        logging.getLogger(name).setLevel(logging.WARNING)

    def on_setup_logging(**_: Any) -> None:
        """A worker or beat process: ours replaces Celery's own set-up, so its lines share the format."""
        configure_logging(container.settings, root=True)

    def on_prerun(sender: Any = None, task_id: str = "", **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            request_id = request_id_of(sender.request)
            _running[task_id] = (time.perf_counter(), current_request_id.set(request_id))
            if request_id is not None:
                structlog.contextvars.bind_contextvars(request_id=request_id)

    def on_postrun(sender: Any = None, task_id: str = "", state: str | None = None, **extra: Any) -> None:
        if getattr(sender, "app", None) is app and task_id in _running:
            started, token = _running.pop(task_id)
            _log(sender, task_id, state, time.perf_counter() - started, extra)
            current_request_id.reset(token)
            structlog.contextvars.unbind_contextvars("request_id")

    uid = f"specgoods.task_log.{id(app)}"
    signals.setup_logging.connect(on_setup_logging, weak=False, dispatch_uid="specgoods.task_log.setup")
    signals.task_prerun.connect(on_prerun, weak=False, dispatch_uid=f"{uid}.prerun")
    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid=f"{uid}.postrun")


def request_id_of(request: Any) -> str | None:
    """The id of the request that caused this task, from its message header; None for beat's own tasks."""
    found = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    return found if isinstance(found, str) else None


def _log(task: Any, task_id: str, state: str | None, seconds: float, extra: dict[str, Any]) -> None:
    arguments = extra.get("kwargs") or {}
    fields = {
        "request_id": current_request_id.get(),
        "task": task.name,
        "task_id": task_id,
        "state": state,
        "outcome": outcome_of(state, extra.get("retval")) or str(state).lower(),  # "retry" while it will run again
        "retries": task.request.retries or 0,
        "duration_ms": round(seconds * 1000, 1),
        "district": arguments.get("district"),
        **object_of(arguments),
    }
    log.log(_level(task.name, state), "task", **fields)


def _level(name: str, state: str | None) -> int:
    """A failure is an error and a retry a warning, so alerts can key on the level; quiet housekeeping is debug."""
    if state == states.FAILURE:
        return logging.ERROR
    if state == states.RETRY:
        return logging.WARNING
    return logging.DEBUG if name in HOUSEKEEPING and state == states.SUCCESS else logging.INFO
