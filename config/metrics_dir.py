"""Where a tree of processes (gunicorn's workers, a Celery worker's pool) pools its Prometheus metrics.

prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is first imported, so this runs before that import: in
gunicorn's master (web/gunicorn_conf.py) and in `specgoods worker` before the tasks load. Files left by an earlier
run would be added to this run's counts, so the directory starts empty.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_metrics(kind: str, reuse_configured: bool) -> Path:
    """Point this process and its children at an empty metrics directory and return it.

    `reuse_configured`: an operator's PROMETHEUS_MULTIPROC_DIR is emptied and used; otherwise a private temporary
    directory is made, removed again when the process that made it exits (not when a forked child does).
    """
    configured = os.environ.get(ENVIRONMENT, "") if reuse_configured else ""
    folder = Path(configured) if configured else Path(tempfile.mkdtemp(prefix=f"specgoods-{kind}-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    if not configured:
        atexit.register(_remove, folder, os.getpid())
    os.environ[ENVIRONMENT] = str(folder)
    return folder


def _remove(folder: Path, owner: int) -> None:
    if os.getpid() == owner:  # a gunicorn worker runs its parent's atexit handlers too
        shutil.rmtree(folder, ignore_errors=True)
