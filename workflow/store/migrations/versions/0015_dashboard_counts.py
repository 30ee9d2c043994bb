"""pages flat to a million: the dashboard's counts kept per district, and history reads led by their filter

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

The counts start from a set-based recount of the rows as they stand at this revision (both engines); from then on
every change appends its deltas (workflow/store/district_counts.py). The indexes serve a certificate's write-off
history, a district's latest declarations and a district's latest decisions, newest first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

DECISION_EVENTS = sa.text("object_type = 'application' AND trigger IN ('grant', 'deny')")
BACKFILL = (
    "INSERT INTO district_counts (district, counter, value) "
    "SELECT district, 'application.' || state, COUNT(*) FROM applications GROUP BY district, state "
    "UNION ALL SELECT district, CASE WHEN paperless THEN 'certificate.paperless' ELSE 'certificate.paper' END, "
    "COUNT(*) FROM certificates GROUP BY district, paperless"
)


def upgrade() -> None:
    op.create_table('district_counts',
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('counter', sa.String(length=48), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('district', 'counter', name=op.f('pk_district_counts'))
    )
    op.create_table('district_count_deltas',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('counter', sa.String(length=48), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_district_count_deltas'))
    )
    op.create_index('ix_district_count_deltas_district', 'district_count_deltas', ['district', 'id'], unique=False)
    op.create_index('ix_ledger_entries_certificate', 'ledger_entries', ['certificate_id', 'id'], unique=False)
    op.create_index('ix_declarations_district', 'declarations', ['district', 'id'], unique=False)
    op.create_index('ix_audit_events_decisions', 'audit_events', ['district', 'id'], unique=False,
                    postgresql_where=DECISION_EVENTS, sqlite_where=DECISION_EVENTS)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index('ix_audit_events_decisions', table_name='audit_events')
    op.drop_index('ix_declarations_district', table_name='declarations')
    op.drop_index('ix_ledger_entries_certificate', table_name='ledger_entries')
    op.drop_index('ix_district_count_deltas_district', table_name='district_count_deltas')
    op.drop_table('district_count_deltas')
    op.drop_table('district_counts')
