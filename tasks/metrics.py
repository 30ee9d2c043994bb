"""Task metrics from Celery's signals (rate, latency and outcome by task) and a worker's own Prometheus exporter.

Prefork pool processes write to the multiprocess directory `specgoods worker` prepared (config/metrics_dir.py); the
worker's main process serves their sum on SPECGOODS_WORKER_METRICS_PORT. In the embedded mode the tasks run in the
serve process and its /metrics shows them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from celery import Celery, bootsteps, signals
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from config.bootstrap import Container
from config.metrics_dir import ENVIRONMENT

TASKS = Counter("specgoods_tasks", "Tasks run, by task and outcome (success, retry, failure).", ["task", "outcome"])
TASK_SECONDS = Histogram(
    "specgoods_task_duration_seconds",
    "How long a task ran, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
log = logging.getLogger(__name__)
_started: dict[str, float] = {}  # task id -> when it started, in the process that runs it


@signals.task_prerun.connect(weak=False, dispatch_uid="specgoods.metrics.prerun")
def _task_started(task_id: str = "", **_kwargs: Any) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect(weak=False, dispatch_uid="specgoods.metrics.postrun")
def _task_finished(task_id: str = "", task: Any = None, state: str | None = None, **_kwargs: Any) -> None:
    started = _started.pop(task_id, None)
    name = getattr(task, "name", "unknown")
    TASKS.labels(name, (state or "unknown").lower()).inc()
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.perf_counter() - started)


@signals.worker_process_shutdown.connect(weak=False, dispatch_uid="specgoods.metrics.process_shutdown")
def _pool_process_gone(**_kwargs: Any) -> None:
    if os.environ.get(ENVIRONMENT):
        mark_process_dead(os.getpid())


def register_exporter(celery: Celery, container: Callable[[], Container]) -> None:
    """A bootstep serving the pool's metrics on the configured port, when one is (never in the embedded mode)."""

    class MetricsExporter(bootsteps.StartStopStep):
        def start(self, parent: Any) -> None:
            settings = container().settings
            if settings.is_embedded or not (settings.worker_metrics_port and os.environ.get(ENVIRONMENT)):
                return
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            address = (settings.worker_metrics_port, settings.worker_metrics_host)
            try:
                self.server, _thread = start_http_server(*address, registry)
            except OSError as error:  # a taken port costs the metrics, never the worker's tasks
                log.error("worker metrics not served on %s:%s: %s", address[1], address[0], error)

        def stop(self, parent: Any) -> None:
            server = getattr(self, "server", None)
            if server is not None:
                server.shutdown()
                server.server_close()

    celery.steps["worker"].add(MetricsExporter)
