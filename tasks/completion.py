"""The worker's half of the outbox's completion: once a task sent for an outbox row has ended, mark the row.

Celery sends `task_postrun` after the task's body has returned or raised, so by then the effect has committed in
the task's own transaction (or there was none). The mark is one more transaction. If the worker dies between the
two, the row stays incomplete and the relay's sweep sends it again (workflow/store/outbox_completion.py).
A task that is going to retry ends in state RETRY: its row stays open until a later run ends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery, signals, states

from config.bootstrap import Container
from config.celery_config import TASK_PREFIX
from workflow.store.outbox_completion import Outcome, complete, row_id_of

log = logging.getLogger(__name__)


def outcome_of(state: str | None, result: Any) -> str | None:
    """The row's outcome, or None while the task will still run again."""
    if state == states.SUCCESS:
        refused = isinstance(result, dict) and result.get("ok") is False
        return Outcome.REFUSED if refused else Outcome.DONE
    if state == states.FAILURE:
        return Outcome.FAILED  # the dead-letter receiver has recorded it (tasks/dead_letters.py)
    return None


def complete_outbox_rows(app: Celery, container: Callable[[], Container]) -> None:
    """Signals are global: this receiver takes only `app`'s tasks, and connects once per app."""

    def on_postrun(
        sender: Any = None, task_id: str | None = None, retval: Any = None, state: str | None = None, **_: Any
    ) -> None:
        row_id, outcome = row_id_of(task_id), outcome_of(state, retval)
        ours = getattr(sender, "app", None) is app and (getattr(sender, "name", "") or "").startswith(TASK_PREFIX)
        if ours and row_id is not None and outcome is not None:
            _complete(container, row_id, outcome)

    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid=f"specgoods.completion.{id(app)}")


def _complete(container: Callable[[], Container], row_id: int, outcome: str) -> None:
    try:
        live = container()
        with live.sessions() as session, session.begin():
            complete(session, row_id, outcome, live.deps.clock.now())
    except Exception:  # the worker goes on; the sweep sends the row again and the next run marks it
        log.warning("could not mark outbox row %s %s; it will be sent again", row_id, outcome, exc_info=True)
