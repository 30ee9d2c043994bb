"""gunicorn settings for the web: Prometheus multiprocess mode (`--config python:web.gunicorn_conf`).

Loaded by gunicorn's master before any worker imports the app: it sets PROMETHEUS_MULTIPROC_DIR (an operator's own,
emptied, or a private temporary one), and marks each worker that exits as dead so its live gauges leave the sum.
Each worker, once it has loaded the app, freezes its start-up heap (config/heap.py).
"""

from __future__ import annotations

from typing import Any

from config.metrics_dir import use_multiprocess_metrics

use_multiprocess_metrics("web", reuse_configured=True)


def post_worker_init(_worker: Any) -> None:
    """Gunicorn calls it in each worker once the app is loaded: its start-up heap leaves the collector's walks."""
    from config.heap import freeze_start_up_heap

    freeze_start_up_heap()


def child_exit(_server: Any, worker: Any) -> None:
    """Gunicorn calls it in the master when a worker process has exited (recycled, crashed or stopped)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# gunicorn 25+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl): a second server on the host
# would take it over. specgoods needs no runtime control beyond signals.
control_socket_disable = True
