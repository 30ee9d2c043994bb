"""no district-wide lock on the request path: audit events are written unsealed and a sequencer seals them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

UNSEALED = sa.text('chain_seq IS NULL')
DECISION_EVENTS = sa.text("object_type = 'application' AND trigger IN ('grant', 'deny')")


def upgrade() -> None:
    # SQLite's batch mode rebuilds the table from its reflection: a partial index is dropped first and made again
    # after, so its WHERE clause cannot be lost on the way.
    op.drop_index('ix_audit_events_decisions', table_name='audit_events')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain_seq', existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('event_hash', existing_type=sa.String(length=64), nullable=True)
    _decision_index()
    op.create_index(
        'ix_audit_events_unsealed', 'audit_events', ['district', 'id'], unique=False,
        postgresql_where=UNSEALED, sqlite_where=UNSEALED,
    )
    # Heads are signed by the sequencer from now on; it signs each existing head on its first run (no key here).
    with op.batch_alter_table('audit_chain_heads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('sealed_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    # Fails while an event is unsealed: run the sequencer (`specgoods audit seal`) first.
    with op.batch_alter_table('audit_chain_heads', schema=None) as batch_op:
        batch_op.drop_column('sealed_at')
        batch_op.drop_column('token')
    op.drop_index('ix_audit_events_unsealed', table_name='audit_events')
    op.drop_index('ix_audit_events_decisions', table_name='audit_events')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('event_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('chain_seq', existing_type=sa.BigInteger(), nullable=False)
    _decision_index()


def _decision_index() -> None:
    op.create_index(
        'ix_audit_events_decisions', 'audit_events', ['district', 'id'], unique=False,
        postgresql_where=DECISION_EVENTS, sqlite_where=DECISION_EVENTS,
    )
