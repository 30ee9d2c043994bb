"""The worker's heartbeat: a bootstep that upserts this worker's row at start and every few seconds after.

/readyz reads these rows instead of pinging workers. A thread of the worker's main process writes them, on its own
timer, so neither beat nor the broker's event heartbeats have to run; a clean stop removes the row.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Celery, bootsteps

from config.bootstrap import Container
from config.readiness import utc_now
from workflow.store.heartbeats import beat, forget, forget_silent_since

log = logging.getLogger(__name__)
# A killed worker's row stays (stale, reported by /readyz and the heartbeat alert) this long, then goes.
FORGET_AFTER = timedelta(hours=1)


class HeartbeatWriter:
    """Writes one worker's row until stopped; a database outage is logged once and the writing goes on."""

    def __init__(self, container: Container, hostname: str, queues: list[str]) -> None:
        self.container, self.hostname, self.queues = container, hostname, queues
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="specgoods-heartbeat", daemon=True)
        self.failing = False

    def start(self) -> None:
        self.write()  # at once, so the worker is ready as soon as it consumes
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self._quietly(lambda connection: forget(connection, self.hostname))

    def write(self) -> None:
        self._quietly(self._beat)

    def _beat(self, connection: Any) -> None:
        now = utc_now()
        beat(connection, self.hostname, self.queues, os.getpid(), now)
        forget_silent_since(connection, now - FORGET_AFTER)

    def _run(self) -> None:
        while not self.stopped.wait(self.container.settings.worker_heartbeat_seconds):
            self.write()

    def _quietly(self, statement: Callable[[Any], None]) -> None:
        try:
            with self.container.engine.begin() as connection:
                statement(connection)
        except Exception as error:  # noqa: BLE001 - a heartbeat that fails is a stale row, which /readyz reports
            if not self.failing:
                log.warning("worker heartbeat not written: %s: %s", type(error).__name__, error)
            self.failing = True
            return
        self.failing = False


def register_heartbeat(celery: Celery, container: Callable[[], Container]) -> None:
    """Add the bootstep to the worker blueprint of `celery` (the embedded worker and `specgoods worker` alike)."""

    class WorkerHeartbeat(bootsteps.StartStopStep):
        requires = ("celery.worker.components:Pool",)  # after the pool forks, before the consumer starts

        def start(self, parent: Any) -> None:
            queues = sorted(parent.app.amqp.queues.consume_from)
            self.obj = HeartbeatWriter(container(), parent.hostname, queues)
            self.obj.start()

    celery.steps["worker"].add(WorkerHeartbeat)
