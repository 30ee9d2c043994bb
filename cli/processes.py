"""`specgoods serve`, `worker` and `beat`: the long-running processes.

In embedded mode (no SPECGOODS_REDIS_URL) `serve` runs gunicorn with one process holding a worker and beat
(cli/embedded_server.py); otherwise it execs gunicorn, and the worker and beat are processes of their own.
"""

from __future__ import annotations

import os

import click

from cli.shell import container
from config.bootstrap import Container
from config.metrics_dir import use_multiprocess_metrics
from config.settings import load_settings
from workflow.domain.errors import InvalidInput


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Serve the web app through gunicorn; in embedded mode its one process also runs a worker and beat."""
    if not load_settings().is_embedded:
        _exec_gunicorn(host, port)
        return
    from cli.embedded_server import serve_embedded

    serve_embedded(host, port)


def _exec_gunicorn(host: str, port: int) -> None:
    args = ["gunicorn", "--worker-class", "gthread", "--workers", "2", "--threads", "4"]
    args += ["--config", "python:web.gunicorn_conf"]  # Prometheus multiprocess mode (docs/monitoring.md)
    os.execvp(args[0], [*args, "--bind", f"{host}:{port}", "web.wsgi:app"])


@click.command()
@click.option(
    "--queues",
    default="outbox,screening,assessment,documents,notifications,sweeps",
    show_default=True,
    help="Comma-separated queues this worker consumes.",
)
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--pool", default="prefork", show_default=True, type=click.Choice(["prefork", "solo", "threads"]))
@click.option("--hostname", default="worker@%h", show_default=True, help="Celery node name.")
def worker(queues: str, concurrency: int, pool: str, hostname: str) -> None:
    """Run a Celery worker (needs SPECGOODS_REDIS_URL)."""
    built = _require_broker()
    if built.settings.worker_metrics_port:  # before tasks.app imports prometheus_client (docs/monitoring.md)
        use_multiprocess_metrics("worker", reuse_configured=False)
    from tasks.app import create_celery_app

    options = ["--loglevel", built.settings.log_level, "--queues", queues, "--concurrency", str(concurrency)]
    options += ["--pool", pool, "--hostname", hostname, "--without-gossip", "--without-mingle"]
    create_celery_app(built).worker_main(["worker", *options])


@click.command()
def beat() -> None:
    """Run Celery beat, the one scheduler of sweeps and the outbox relay (needs SPECGOODS_REDIS_URL)."""
    from tasks.app import create_celery_app

    built = _require_broker()
    app = create_celery_app(built)
    schedule = built.settings.instance_path / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel", built.settings.log_level, "--schedule", str(schedule)])


def _require_broker() -> Container:
    built = container()
    if built.settings.is_embedded:
        raise InvalidInput(
            "set SPECGOODS_REDIS_URL: in embedded mode `specgoods serve` runs the worker itself",
            field="SPECGOODS_REDIS_URL",
        )
    return built
