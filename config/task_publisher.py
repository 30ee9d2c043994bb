"""Task messages as Celery's `send_task` makes and sends them, on a producer each thread keeps, queues declared once.

Each message is built by Celery's own `create_task_message` and sent by its own `send_task_message` (its routing to
the default exchange, delivery mode, serializer, publish signals and retry policy), with the arguments `send_task`
gives them. What `send_task` does around those two for every message is done once here, or not at all:

- its route: the task's queue, looked up once per task name (the routes are static settings: config/celery_config.py);
- its producer: `send_task` takes one from Celery's pool and gives it back for every message. Each thread keeps
  one, with its broker connection; a forked child (a prefork worker's) makes its own, since a connection is never
  shared between processes, and one whose publish failed is dropped, so the next publish starts on a new connection;
- the queue's declaration: kombu declared the queue on every publish, making a copy of it bound to the channel and a
  retrying wrapper around the declaration before finding it in its record of what the connection had declared. The
  first publish on a connection declares it, and later ones do not ask while that record holds it. kombu empties
  the record whenever it connects again, so the first publish after a reconnection declares the queue again, as
  before. Within one publish retried after a reconnection the queue is not declared again: the message goes to the
  default exchange with the queue's name as routing key, which on Redis (and every kombu virtual transport) puts it
  straight on the queue's list, declared or not;
- the result object it returns, and the task's options from the registry: results are ignored (no backend), and no
  task sets an option of its own (`tests/integration/test_task_publisher.py` checks both).

Measured paired in the approval flow: 376 → 199 µs of client CPU per publish with the caches cold, as they are between
two steps (docs/performance.md); most of that was `send_task`'s work around the two functions, not the pool or the
declaration.
"""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from celery import Celery


@dataclass
class _Kept:
    """A thread's producer, the connection under it, and the process that made them."""

    pid: int
    connection: Any
    producer: Any


class TaskPublisher:
    """`send(name, kwargs, task_id, **options)`: one message, as `Celery.send_task` with those options sends it."""

    def __init__(self, celery: Celery) -> None:
        self._celery = celery
        self._threads = threading.local()
        self._routes: dict[str, dict[str, Any]] = {}  # by task name: where Celery's router sends it (static routes)

    def send(self, name: str, kwargs: dict[str, Any], task_id: str, **options: Any) -> None:
        """`options` as `send_task` takes them: headers, retry and retry_policy, argsrepr and kwargsrepr."""
        kept, route = self._kept(), self._route(name)
        amqp, root_id, parent_id = self._celery.amqp, *self._lineage()
        message = amqp.create_task_message(
            task_id,
            name,
            kwargs=kwargs,
            reply_to=self._celery.thread_oid,
            create_sent_event=self._celery.conf.task_send_sent_event,
            root_id=root_id,
            parent_id=parent_id,
            ignore_result=None,
            **options,
            **route,
        )
        # None lets Celery ask kombu to declare the queue (kombu records it); [] when kombu's record holds it.
        queue = route.get("queue")
        declared = queue is not None and hash(queue) in kept.connection.declared_entities
        try:
            amqp.send_task_message(kept.producer, name, message, declare=[] if declared else None, **options, **route)
        except BaseException:
            with suppress(Exception):  # the publish's own error is the one to raise
                self.close()  # a half-broken connection is not kept: the next publish connects anew
            raise

    def _lineage(self) -> tuple[str | None, str | None]:
        """Sent from inside a task: its root and its own id, as `send_task` records them."""
        parent = self._celery.current_worker_task
        if not parent:
            return None, None
        return parent.request.root_id or parent.request.id, parent.request.id

    def close(self) -> None:
        """Release the producer and connection this thread keeps, if any (a process exiting closes the others')."""
        kept: _Kept | None = getattr(self._threads, "kept", None)
        self._threads.kept = None
        if kept is not None and kept.pid == os.getpid():
            kept.connection.release()

    def _kept(self) -> _Kept:
        kept: _Kept | None = getattr(self._threads, "kept", None)
        if kept is None or kept.pid != os.getpid():  # none yet, or the parent's, inherited by a fork
            connection = self._celery.connection_for_write()
            kept = self._threads.kept = _Kept(os.getpid(), connection, self._celery.amqp.Producer(connection))
        return kept

    def _route(self, name: str) -> dict[str, Any]:
        if name not in self._routes:
            self._routes[name] = self._celery.amqp.router.route({}, name, (), {}, None)
        return self._routes[name]
