"""Programmatic Alembic: `specgoods db upgrade` and the test fixtures make schemas only through migrations."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationInfo
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
# Called with a revision id once that revision's upgrade has run, so a caller can show progress per revision.
OnApplied = Callable[[str], object]


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head", on_applied: OnApplied | None = None) -> None:
    config = alembic_config(database_url)
    if on_applied is not None:
        config.attributes["on_version_apply"] = partial(_applied, on_applied)  # env.py hands it to Alembic
    command.upgrade(config, revision)


def _applied(on_applied: OnApplied, *, step: MigrationInfo, **_: Any) -> None:
    if step.is_upgrade and step.up_revision_id is not None:
        on_applied(step.up_revision_id)


def pending_revisions(database_url: str, revision: str = "head") -> list[tuple[str, str]]:
    """(revision id, its one-line purpose) of every migration `upgrade` would run, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    steps = reversed(list(scripts.iterate_revisions(revision, current_revision(database_url))))
    return [(step.revision, " ".join(step.doc.split())) for step in steps]  # a wrapped docstring on one line


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision
