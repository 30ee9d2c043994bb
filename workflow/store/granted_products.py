"""R60's granted products: per enterprise, the key of every product identity it was granted, kept by the grant.

The key is `assessment.product_key`, the one R63 already finds entity-level assessments by, so the first-time check
asks about the few identities an application names (one lookup on the primary key) instead of reading every line
of the enterprise's granted history. A product stays granted whatever became of its certificate (§8 Q6): a granted
application never leaves GRANTED, so rows are only ever added.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from workflow.domain.assessment import product_key
from workflow.domain.goods import ProductIdentity
from workflow.domain.lifecycle import AppState
from workflow.store.codec import line_from_json
from workflow.store.tables import ApplicationLineRow, ApplicationRow, GrantedProductRow

BACKFILL_BATCH = 1000  # granted applications per round of `backfill`
_ENTERPRISE = GrantedProductRow.enterprise_id == bindparam("enterprise_id")
# The submission's, the screening's and the grant's questions: built once, each call a compiled-cache hit.
_GRANTED_AMONG = select(GrantedProductRow.product_key).where(
    _ENTERPRISE, GrantedProductRow.product_key.in_(bindparam("keys", expanding=True))
)
_HAS_GRANT = select(exists().where(_ENTERPRISE))


@functools.lru_cache(maxsize=4096)
def key_of(identity: ProductIdentity) -> str:
    """`product_key`, remembered: the screening and the grant each key the same few identities of an enterprise."""
    return product_key(identity)


def granted_among(
    connection: Connection, enterprise_id: int, identities: Iterable[ProductIdentity]
) -> set[ProductIdentity]:
    """Which of these identities the enterprise was granted: one statement, whatever its history."""
    keyed = {key_of(identity): identity for identity in identities}
    if not keyed:
        return set()
    found = connection.execute(_GRANTED_AMONG, {"enterprise_id": enterprise_id, "keys": list(keyed)})
    return {keyed[key] for key in found.scalars()}


def has_grant(connection: Connection, enterprise_id: int) -> bool:
    """Whether the enterprise was granted anything at all (R15's first application): one EXISTS on the key's prefix."""
    return bool(connection.scalar(_HAS_GRANT, {"enterprise_id": enterprise_id}))


def add(connection: Connection, enterprise_id: int, application_id: int, identities: Iterable[ProductIdentity]) -> None:
    """The products of a grant, in its transaction; one already granted keeps the application that first carried it."""
    keys = dict.fromkeys(key_of(identity) for identity in identities)
    rows = [{"enterprise_id": enterprise_id, "product_key": key, "application_id": application_id} for key in keys]
    _insert_new(connection, rows)


def backfill(connection: Connection, batch: int = BACKFILL_BATCH) -> int:
    """Key the lines of every granted application, oldest first, in rounds of `batch` applications; idempotent.

    For rows written around the grant (the benchmarks' bulk-copied history); migration 0014 does the same once for
    the databases that had grants before this table. Returns how many granted applications it read.
    """
    app, line = ApplicationRow, ApplicationLineRow
    after, read = 0, 0
    while True:
        ids = list(
            connection.scalars(
                select(app.id).where(app.state == AppState.GRANTED.value, app.id > after).order_by(app.id).limit(batch)
            )
        )
        if not ids:
            return read
        facts = connection.execute(
            select(app.enterprise_id, line.application_id, line.facts)
            .join(app, app.id == line.application_id)
            .where(line.application_id.in_(ids))
            .order_by(line.application_id, line.line_no)
        )
        _insert_new(
            connection, _first_of_each(_row(enterprise, application, fact) for enterprise, application, fact in facts)
        )
        after, read = ids[-1], read + len(ids)


def _row(enterprise_id: int, application_id: int, facts: dict[str, object]) -> dict[str, object]:
    key = key_of(line_from_json(facts).identity)
    return {"enterprise_id": enterprise_id, "product_key": key, "application_id": application_id}


def _first_of_each(rows: Iterable[dict[str, object]]) -> list[dict[str, object]]:
    """One row per enterprise and product, the oldest application's: what the grants would have written."""
    first: dict[tuple[object, object], dict[str, object]] = {}
    for row in rows:
        first.setdefault((row["enterprise_id"], row["product_key"]), row)
    return list(first.values())


def _insert_new(connection: Connection, rows: list[dict[str, object]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a product granted before (or by a concurrent grant) keeps its row."""
    if not rows:
        return
    connection.execute(_insert_new_statement(connection.dialect.name), rows)


@functools.cache
def _insert_new_statement(dialect_name: str) -> Any:
    """Built once per dialect: each grant's INSERT is then a compiled-cache hit."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(GrantedProductRow).on_conflict_do_nothing(index_elements=["enterprise_id", "product_key"])
