"""The worker's half of the outbox's completion: once a task sent for an outbox row has ended, mark the row.

Celery sends `task_postrun` after the task's body has returned or raised, so by then the effect has committed in
the task's own transaction (or there was none). The mark is one more transaction. If the worker dies between the
two, the row stays incomplete and the relay's sweep sends it again (workflow/store/outbox_completion.py).
A task that is going to retry ends in state RETRY: its row stays open until a later run ends it.

A task whose effect is one transaction (the screening) marks its row in that transaction instead
(`completing_with_effect`): the mark commits with the effect or not at all, and the worker saves a transaction per
task (#15). The mark is staged when the transaction begins, so it rides in the commit's last statement
(workflow/store/together.py) at no round trip of its own. If that transaction never commits (nothing to do, a rule
refused, a lost race), `task_postrun` marks the row as for any other task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from celery import Celery, signals, states
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from config.bootstrap import Container
from config.celery_config import TASK_PREFIX
from workflow.store.outbox_completion import Outcome, complete, row_id_of, stage_completion, staged_unwritten

log = logging.getLogger(__name__)


@dataclass
class _WithEffect:
    """The row a running task completes in its effect's transaction; `done` once that transaction has committed."""

    row_id: int
    now: Callable[[], Any]
    done: bool = False


_with_effect: ContextVar[_WithEffect | None] = ContextVar("specgoods_complete_with_effect", default=None)
_COMPLETES = "specgoods.completes"  # Session.info key: the task's pending mark and the rows staged for it
_done_with_effect: set[str] = set()  # task ids whose row committed with the effect: postrun has nothing to mark


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
        if not ours or row_id is None:
            return
        if task_id in _done_with_effect:
            _done_with_effect.discard(task_id)  # marked in the task's own transaction
        elif outcome is not None:
            _complete(container, row_id, outcome)

    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid=f"specgoods.completion.{id(app)}")


@contextmanager
def completing_with_effect(container: Container, task_id: str | None) -> Iterator[None]:
    """While a task runs: the first transaction it commits on `container`'s sessions also completes its outbox row.

    For a task whose effect is exactly one transaction that commits last (a later commit would find the row done
    before its own effect). Rows not from the outbox (beat's, a test's direct call) are left alone.
    """
    row_id = row_id_of(task_id)
    if row_id is None or task_id is None:
        yield
        return
    _listen(container.sessions)
    pending = _WithEffect(row_id, container.deps.clock.now)
    token = _with_effect.set(pending)
    try:
        yield
    finally:
        _with_effect.reset(token)
    if pending.done:
        _done_with_effect.add(task_id)


def _listen(sessions: sessionmaker[Session]) -> None:
    if not event.contains(sessions, "after_begin", _stage_mark):
        event.listen(sessions, "after_begin", _stage_mark)
        event.listen(sessions, "before_commit", _mark_if_unwritten)
        event.listen(sessions, "after_commit", _note_committed)
        event.listen(sessions, "after_rollback", _forget_mark)


def _stage_mark(session: Session, _transaction: Any, _connection: Any) -> None:
    pending = _with_effect.get()
    if pending is not None and not pending.done and _COMPLETES not in session.info:
        session.info[_COMPLETES] = (pending, stage_completion(session, pending.row_id, pending.now()))


def _mark_if_unwritten(session: Session) -> None:
    """A commit that took no unit of work's last statement (so not the staged mark) marks the row on its own."""
    entry = session.info.get(_COMPLETES)
    if entry is not None and staged_unwritten(session, entry[1]):
        complete(session, entry[0].row_id, Outcome.DONE, entry[0].now())


def _note_committed(session: Session) -> None:
    entry = session.info.pop(_COMPLETES, None)
    if entry is not None:
        entry[0].done = True  # only now: a commit that failed rolled the mark back with the effect


def _forget_mark(session: Session) -> None:
    """Rolled back: the next transaction, if any, stages the mark again."""
    entry = session.info.pop(_COMPLETES, None)
    if entry is not None:
        staged_unwritten(session, entry[1])  # drops the rows, if the rollback's caller had not already


def _complete(container: Callable[[], Container], row_id: int, outcome: str) -> None:
    try:
        live = container()
        with live.sessions() as session, session.begin():
            complete(session, row_id, outcome, live.deps.clock.now())
    except Exception:  # the worker goes on; the sweep sends the row again and the next run marks it
        log.warning("could not mark outbox row %s %s; it will be sent again", row_id, outcome, exc_info=True)
