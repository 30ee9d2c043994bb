"""the first-time check as one lookup: the product identities each enterprise was granted (R60)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The table is filled from the lines of the applications granted before it, oldest first, so each product keeps the
application that first carried it. The key is a SHA-256 made in Python (workflow.domain.assessment.product_key, the
key R63 already stores), so the backfill reads and writes in batches instead of one INSERT … SELECT; the tables are
named here as they stand at this revision, so a later column cannot break it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

from workflow.domain.assessment import product_key
from workflow.store.codec import line_from_json

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BATCH = 1000  # granted applications per round

_applications = sa.table('applications', sa.column('id', sa.Integer()), sa.column('enterprise_id', sa.Integer()),
                         sa.column('state', sa.String()))
_lines = sa.table('application_lines', sa.column('application_id', sa.Integer()), sa.column('line_no', sa.Integer()),
                  sa.column('facts', sa.JSON()))
_granted = sa.table('granted_products', sa.column('enterprise_id', sa.Integer()),
                    sa.column('product_key', sa.String()), sa.column('application_id', sa.Integer()))


def upgrade() -> None:
    op.create_table(
        'granted_products',
        sa.Column('enterprise_id', sa.Integer(), nullable=False),
        sa.Column('product_key', sa.String(length=64), nullable=False),
        sa.Column('application_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['application_id'], ['applications.id'], name=op.f('fk_granted_products_application_id_applications')
        ),
        sa.ForeignKeyConstraint(
            ['enterprise_id'], ['enterprises.id'], name=op.f('fk_granted_products_enterprise_id_enterprises')
        ),
        sa.PrimaryKeyConstraint('enterprise_id', 'product_key', name=op.f('pk_granted_products')),
    )
    _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    """Every granted application's lines, in rounds of BATCH applications by id; the first carrier of a key wins.

    Memory stays one round's: a key met again in a later round is skipped by ON CONFLICT DO NOTHING.
    """
    dialect = postgresql if connection.dialect.name == 'postgresql' else sqlite
    insert_new = dialect.insert(_granted).on_conflict_do_nothing(index_elements=['enterprise_id', 'product_key'])
    after = 0
    while True:
        ids = list(connection.scalars(
            sa.select(_applications.c.id)
            .where(_applications.c.state == 'granted', _applications.c.id > after)
            .order_by(_applications.c.id)
            .limit(BATCH)
        ))
        if not ids:
            return
        facts = connection.execute(
            sa.select(_applications.c.enterprise_id, _lines.c.application_id, _lines.c.facts)
            .join(_applications, _applications.c.id == _lines.c.application_id)
            .where(_lines.c.application_id.in_(ids))
            .order_by(_lines.c.application_id, _lines.c.line_no)
        )
        first: dict[tuple[int, str], dict[str, Any]] = {}
        for enterprise_id, application_id, line_facts in facts:
            key = product_key(line_from_json(line_facts).identity)
            first.setdefault((enterprise_id, key), {
                'enterprise_id': enterprise_id, 'product_key': key, 'application_id': application_id
            })
        if first:
            connection.execute(insert_new, list(first.values()))
        after = ids[-1]


def downgrade() -> None:
    op.drop_table('granted_products')
