"""`specgoods db` (schema migrations, recounts) and `specgoods demo` (the demo districts' data)."""

from __future__ import annotations

from collections.abc import Callable

import click
from alembic.script.revision import RevisionError

from cli.progress import Reporter, reporting
from cli.shell import container
from config.bootstrap import Container
from workflow.domain.errors import InvalidInput


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations (the only way the schema is made)."""
    built = container()
    upgrade_schema(built, revision)
    click.echo(f"database at {revision}: {built.engine.url.render_as_string(hide_password=True)}")


@db.command("recount-decisions")
def db_recount_decisions() -> None:
    """Count the decisions already taken into the dashboard's counts by day (once, after upgrading to 0019)."""
    from config.decision_counts import recount_decisions

    written = recount_decisions(container(relay_after_commit=False))
    click.echo(f"decisions recounted: {written} counts by district, day and working days")


def upgrade_schema(built: Container, revision: str = "head") -> None:
    """Migrate the container's database to `revision`, making the instance folder first (SQLite lives there).

    Each revision is announced on stderr before it runs, so a long backfill shows which migration is working.
    """
    from workflow.store.migrate import pending_revisions, upgrade

    built.settings.instance_path.mkdir(parents=True, exist_ok=True)
    url = built.settings.effective_database_url
    try:
        pending = pending_revisions(url, revision)
    except RevisionError as error:  # unknown, or behind the database's: `db upgrade` never goes down
        raise InvalidInput(f"no upgrade to {revision}: {error}", field="--revision") from None
    with reporting() as report:
        announce = _announcer(pending, report)
        announce("")
        upgrade(url, revision, on_applied=announce)


def _announcer(pending: list[tuple[str, str]], report: Reporter) -> Callable[[str], None]:
    """Called first with "" and then with each applied revision: announces the revision that runs next."""
    upcoming = iter(enumerate(pending, start=1))

    def announce(_applied: str) -> None:
        position, (revision, purpose) = next(upcoming, (0, ("", "")))
        if position:
            report.phase(f"migration {revision} ({position}/{len(pending)}): {purpose}")

    return announce


@click.command()
def demo() -> None:
    """Load the demo districts' enterprises, users and sample applications (safe to run twice)."""
    from config.demo import load_demo

    built = container(relay_after_commit=False)
    upgrade_schema(built)
    for line in load_demo(built):
        click.echo(line)
