"""Alembic environment: runs online against the URL the project's CLI passes in, batch mode for SQLite ALTERs."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from workflow.store.engine import make_engine
from workflow.store.tables import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        on_version_apply=context.config.attributes.get("on_version_apply"),  # progress per revision (migrate.py)
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


run_migrations_online()
