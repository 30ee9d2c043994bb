"""The migrations are the schema: after `upgrade head` the database matches the typed tables exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from workflow.store.migrate import current_revision
from workflow.store.tables import Base


def test_the_migrated_schema_matches_the_tables_with_no_drift(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    engine.dispose()
    assert differences == [], "write a migration for these differences"


def test_the_database_is_at_the_latest_revision(database_url: str) -> None:
    from alembic.script import ScriptDirectory

    from workflow.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current_revision(database_url) == head
