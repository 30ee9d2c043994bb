"""Dead letters: a specgoods task that fails for good is recorded, with its kwargs, for an administrator to retry.

Celery sends `task_failure` only when a task gives up: a non-retried exception, or the last retry's. A retry
that is still coming sends `task_retry` instead, so nothing here has to count attempts.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from celery import Celery, signals

from config.bootstrap import Container
from config.celery_config import TASK_PREFIX
from workflow.store.dead_letters import SqlDeadLetters

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 10_000


def record_dead_letters(app: Celery, container: Callable[[], Container]) -> None:
    """Signals are global: this receiver takes only the failures of `app`'s tasks, and connects once per app."""

    def on_failure(
        sender: Any = None,
        task_id: str | None = None,
        exception: BaseException | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        name = getattr(sender, "name", "") or ""
        if getattr(sender, "app", None) is app and name.startswith(TASK_PREFIX):
            _record(container, name, task_id or "", dict(kwargs or {}), _error_text(exception))

    signals.task_failure.connect(on_failure, weak=False, dispatch_uid=f"specgoods.dead_letters.{id(app)}")


def _record(container: Callable[[], Container], task: str, task_id: str, payload: dict[str, Any], error: str) -> None:
    try:
        live = container()
        with live.sessions() as session, session.begin():
            letter = SqlDeadLetters(session, live.deps.clock.now).record(task, task_id, payload, error)
    except Exception:  # the worker must go on; the task's own failure is already in its log
        log.exception("could not record the dead letter of %s %s", task, task_id)
        return
    log.error("%s %s failed for good: dead letter %s", task, task_id, letter)


def _error_text(exception: BaseException | None) -> str:
    if exception is None:
        return "unknown error"
    lines = traceback.format_exception(exception)
    return f"{type(exception).__name__}: {exception}\n\n{''.join(lines)}"[:MAX_ERROR_CHARS]
