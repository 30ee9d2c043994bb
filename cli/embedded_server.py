"""`specgoods serve` in embedded mode: gunicorn, one worker process with threads, the Celery worker and beat inside.

Why gunicorn: the demo is served the way production is (a production-grade WSGI server, no "development server"
warning). Why exactly one worker process: the embedded mode's broker is Celery's in-memory transport and its worker
and beat run on threads of the web process. A second process would get a broker of its own, so tasks published by
its requests would reach only its own worker, and a beat of its own, so every sweep would run twice; and SQLite
takes one writer at a time anyway. Threads (gthread) give the concurrency. Production runs on Redis with separate
worker and beat processes and as many web processes as it likes (docs/deployment.md).

The master process migrates and then lets go of the database before it forks; the worker process builds its own
container, starts the Celery threads and then the app (threads do not survive a fork, so they start after it).
"""

from __future__ import annotations

from typing import Any

import click
from gunicorn.app.base import BaseApplication

from cli.database import upgrade_schema
from cli.shell import container

THREADS = 8
# Generous: the one worker must not be killed while it boots on a busy machine (its broker lives in its memory).
BOOT_AND_SILENCE_TIMEOUT = 120
GRACEFUL_TIMEOUT = 10


class EmbeddedServer(BaseApplication):
    """A gunicorn application configured in code: no config file, no command-line parsing."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # control_socket_disable is newer than the oldest gunicorn allowed
                self.cfg.set(key, value)

    def load(self) -> Any:
        """Runs in the worker process, after the fork."""
        from tasks.app import start_embedded_worker
        from web import create_app

        built = container()
        start_embedded_worker(built)
        return create_app(built)


def serve_embedded(host: str, port: int) -> None:
    """Migrate, then serve until Ctrl-C (SIGINT) or SIGTERM."""
    built = container()
    upgrade_schema(built)
    built.dispose()  # no pooled connection may cross the fork
    click.echo(f"specgoods (embedded: SQLite + in-process worker) on http://{host}:{port}/ (gunicorn, one process)")
    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": THREADS,
        "timeout": BOOT_AND_SILENCE_TIMEOUT,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "proc_name": "specgoods-embedded",
        # gunicorn 25+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl): a second server on
        # the machine (a test run's, another demo) would take it over. The demo needs no runtime control.
        "control_socket_disable": True,
    }
    EmbeddedServer(options).run()
