"""The `specgoods` command line: serve, worker, beat, db, demo, users, precheck and diagrams.

The outermost shell of the application: the one module of `config` allowed to start the web and the worker.
Every failure is one line on stderr and a non-zero exit (2 for bad input), never a traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError
from werkzeug.security import generate_password_hash

from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from workflow.domain.actors import Role
from workflow.domain.errors import DomainError, InvalidInput

EXIT_BAD_INPUT = 2


class SpecgoodsGroup(click.Group):
    """Turns domain and infrastructure errors into one clear line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidInput as error:
            _fail(f"{error.field}: {error.message}" if error.field else error.message, EXIT_BAD_INPUT)
        except DomainError as error:
            _fail(error.message, 1)
        except OperationalError as error:
            _fail(f"database unreachable: {str(error.orig).strip().splitlines()[0]}", 1)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # noqa: BLE001 - a user sees one line; the details belong in the logs
            _fail(f"unexpected {type(error).__name__}: {error}", 1)


def _fail(message: str, code: int) -> None:
    click.echo(f"specgoods: error: {message}", err=True)
    sys.exit(code)


def _container(**kwargs: Any) -> Container:
    return bootstrap(load_settings(), **kwargs)


@click.group(cls=SpecgoodsGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """specgoods: entry/exit special-goods health-quarantine approval (出入境特殊物品卫生检疫审批)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Serve the web app; in embedded mode also run a worker and beat inside this process."""
    settings = load_settings()
    if not settings.is_embedded:
        _exec_gunicorn(host, port)
        return
    from werkzeug.serving import run_simple

    from tasks.app import start_embedded_worker
    from web import create_app

    container = _container()
    _upgrade(container)
    start_embedded_worker(container)
    click.echo(f"specgoods (embedded: SQLite + in-process worker) on http://{host}:{port}/")
    run_simple(host, port, create_app(container), threaded=True, use_reloader=False)


def _exec_gunicorn(host: str, port: int) -> None:
    import os

    args = [
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        "2",
        "--threads",
        "4",
        "--bind",
        f"{host}:{port}",
        "web.wsgi:app",
    ]
    os.execvp(args[0], args)


@main.command()
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
    from tasks.app import create_celery_app

    container = _require_broker()
    app = create_celery_app(container)
    app.worker_main(
        [
            "worker",
            "--loglevel",
            container.settings.log_level,
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            "--hostname",
            hostname,
            "--without-gossip",
            "--without-mingle",
        ]
    )


@main.command()
def beat() -> None:
    """Run Celery beat, the one scheduler of sweeps and the outbox relay (needs SPECGOODS_REDIS_URL)."""
    from tasks.app import create_celery_app

    container = _require_broker()
    app = create_celery_app(container)
    schedule = container.settings.instance_path / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel", container.settings.log_level, "--schedule", str(schedule)])


def _require_broker() -> Container:
    container = _container()
    if container.settings.is_embedded:
        raise InvalidInput(
            "set SPECGOODS_REDIS_URL: in embedded mode `specgoods serve` runs the worker itself",
            field="SPECGOODS_REDIS_URL",
        )
    return container


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations (the only way the schema is made)."""
    container = _container()
    _upgrade(container, revision)
    click.echo(f"database at {revision}: {container.engine.url.render_as_string(hide_password=True)}")


@db.command("recount-decisions")
def db_recount_decisions() -> None:
    """Count the decisions already taken into the dashboard's counts by day (once, after upgrading to 0019)."""
    from config.decision_counts import recount_decisions

    written = recount_decisions(_container(relay_after_commit=False))
    click.echo(f"decisions recounted: {written} counts by district, day and working days")


def _upgrade(container: Container, revision: str = "head") -> None:
    from workflow.store.migrate import upgrade

    container.settings.instance_path.mkdir(parents=True, exist_ok=True)
    upgrade(container.settings.effective_database_url, revision)


@main.command()
def demo() -> None:
    """Load the demo districts' enterprises, users and sample applications (safe to run twice)."""
    from config.demo import load_demo

    container = _container(relay_after_commit=False)
    _upgrade(container)
    for line in load_demo(container):
        click.echo(line)


@main.group()
def users() -> None:
    """User administration."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice([role.value for role in Role if role is not Role.SYSTEM]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--enterprise", "uscc", default=None, help="The enterprise's unified social credit code (applicants).")
@click.option("--district", default=None, help="The officer's district code (customs roles).")
@click.option("--name", "display_name", default="", help="Display name.")
def users_create(
    username: str, role: str, password: str, uscc: str | None, district: str | None, display_name: str
) -> None:
    """Create a user: an applicant of one enterprise, or an officer of one district."""
    from workflow.store.directory import create_user, find_enterprise

    container = _container()
    with container.sessions() as session, session.begin():
        enterprise = find_enterprise(session, uscc) if uscc else None
        if uscc and enterprise is None:
            raise InvalidInput(f"no enterprise with code {uscc}", field="enterprise")
        create_user(
            session,
            username=username,
            role=Role(role),
            password_hash=generate_password_hash(password),
            now=container.deps.clock.now(),
            display_name=display_name,
            enterprise_id=enterprise.id if enterprise else None,
            district=district,
        )
    click.echo(f"created {role} {username}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--district", default=None, help="District whose policy applies (default: the file's, then settings).")
@click.option("--date", "on", default=None, type=click.DateTime(["%Y-%m-%d"]), help="Policy date (default today).")
def precheck(file: Path, district: str | None, on: Any) -> None:
    """Pre-check goods before filing: scope, grade, validity, write-off, paperless, documents, follow-up."""
    from config.profiles import load_districts
    from workflow.service.precheck import parse_precheck_input, run_precheck

    raw = _read_json(file)
    request = parse_precheck_input(raw)
    when: date = on.date() if on else (request.date or date.today())
    policy = load_districts().policy_for(district or request.district or load_settings().district, when)
    click.echo(json.dumps(run_precheck(request, policy), ensure_ascii=False, indent=2))


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {file}", field="FILE") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{file} is not valid UTF-8 JSON: {error}", field="FILE") from None


@main.command()
@click.option("--check", is_flag=True, help="Exit 1 if the committed diagrams or guard doc differ from the machines.")
@click.option("--out", default="docs/lifecycles", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def diagrams(check: bool, out: Path) -> None:
    """Write the lifecycle diagrams (mermaid) and docs/guards.md, generated from the state machines."""
    from workflow.domain.diagrams import render_lifecycle_docs
    from workflow.domain.guard_docs import render_guard_doc

    stale = []
    generated = {out / name: text for name, text in render_lifecycle_docs().items()}
    for path, text in {**generated, out.parent / "guards.md": render_guard_doc()}.items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(path))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        _fail(f"lifecycle diagrams out of date: {', '.join(stale)} (run `specgoods diagrams`)", 1)
    click.echo("diagrams up to date" if not stale else f"wrote {', '.join(stale)}")


from config.cli_audit import audit  # noqa: E402

main.add_command(audit)

from config.cli_lifecycles import lifecycles  # noqa: E402

main.add_command(lifecycles)

from config.cli_tasks import tasks_group  # noqa: E402

main.add_command(tasks_group)

from config.cli_verify import keys, verify  # noqa: E402

main.add_command(verify)
main.add_command(keys)


if __name__ == "__main__":
    main()
