"""Task messages sent as Celery's `send_task` makes them, on a producer each thread keeps, each queue declared once.

Left to itself, `send_task` takes a producer from Celery's pool and gives it back for every message, and has kombu
declare the task's queue on every publish: a copy of the queue bound to the channel and a retrying wrapper around
the declaration are made each time before kombu finds the queue in its record of what it declared on the
connection. Together that was about a third of a publish's client CPU (docs/performance.md). Here the message is
still Celery's own (`send_task`, its routing, headers and retry policy), but:

- each thread keeps one producer and its broker connection; a forked child (a prefork worker's) makes its own,
  since a connection is never shared between processes, and one whose publish failed is dropped, so the next
  publish starts on a new connection;
- the queue is declared by the first publish on a connection, and not asked for again while kombu's record of the
  connection's declared entities holds it. kombu empties that record whenever it connects again, so the first
  publish after a reconnection declares the queue again, as before. Within one publish retried after a reconnection
  the queue is not declared again: messages go to the default exchange with the queue's name as routing key, which
  on Redis (and every kombu virtual transport) puts them straight on the queue's list, declared or not.
"""

from __future__ import annotations

import os
import threading
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
        self._queues: dict[str, Any] = {}  # by task name: the queue Celery's router sends it to (routes are static)

    def send(self, name: str, kwargs: dict[str, Any], task_id: str, **options: Any) -> None:
        kept = self._kept()
        queue = self._queue(name)
        declared = queue is not None and hash(queue) in kept.connection.declared_entities  # kombu's own record
        declare = [] if declared else None  # None: Celery asks kombu to declare the queue, and kombu records it
        try:
            self._celery.send_task(
                name, kwargs=kwargs, task_id=task_id, producer=kept.producer, declare=declare, **options
            )
        except BaseException:
            self.close()  # a half-broken connection is not kept: the next publish connects anew
            raise

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

    def _queue(self, name: str) -> Any:
        if name not in self._queues:
            self._queues[name] = self._celery.amqp.router.route({}, name, (), {}, None).get("queue")
        return self._queues[name]
