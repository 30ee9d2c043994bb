"""The migrations are the schema: after `upgrade head` the database matches the typed tables exactly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from workflow.domain.audit_chain import ChainWalker
from workflow.store.audit_chain import heads, stream_events
from workflow.store.migrate import current_revision, upgrade
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


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    from tests.conftest import RUN_ID, _create_pg_database, _drop_pg_database

    name = f"specgoods_backfill_{RUN_ID}"
    yield _create_pg_database(name)
    _drop_pg_database(name)


def test_0006_chains_the_audit_events_written_before_it(fresh_url: str) -> None:
    """Events of a database older than the chain get their places, in id order per district, and then verify."""
    upgrade(fresh_url, "0005")
    engine = create_engine(fresh_url)
    event = {
        "object_type": "application",
        "object_ref": "XI1",
        "actor_id": None,
        "actor_role": "system",
        "actor_name": "system",
        "at": datetime(2016, 6, 1, 9, 30, 0, 123456),
        "trigger": "submit",
        "from_state": "draft",
        "to_state": "submitted",
        "reason": "中文 reason",
        "policy_id": "xiamen-2016",
        "policy_hash": "abc",
        "rule_ids": ["R11"],
        "inputs": {"qty": "2.5", "nested": {"b": 1, "a": [1, 2]}},
    }
    rows = [event | {"object_id": n, "district": district} for n, district in enumerate(["xiamen", "fuzhou"] * 3)]
    with engine.begin() as connection:
        connection.execute(text_insert(), rows)
    upgrade(fresh_url)
    with engine.connect() as connection:
        for district in ("xiamen", "fuzhou"):
            walker = ChainWalker(district)
            for row in stream_events(connection, district):
                walker.add(row)
            walker.end(*heads(connection)[district])
            assert walker.finding is None and walker.count == 3
    engine.dispose()


def text_insert() -> Any:
    from sqlalchemy import JSON, DateTime, column, table

    return table(
        "audit_events",
        *(column(name) for name in ("object_type", "object_id", "object_ref", "district", "actor_id", "actor_role")),
        *(column(name) for name in ("actor_name", "trigger", "from_state", "to_state", "reason", "policy_id")),
        column("policy_hash"),
        column("at", DateTime()),
        column("rule_ids", JSON()),
        column("inputs", JSON()),
    ).insert()
