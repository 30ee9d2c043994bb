"""heartbeats the workers write, read by /readyz.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per live worker, upserted every few seconds by the worker itself: a handful of rows, no history.
    op.create_table(
        'worker_heartbeats',
        sa.Column('hostname', sa.String(length=255), nullable=False),
        sa.Column('queues', sa.Text(), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('beat_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('hostname', name=op.f('pk_worker_heartbeats')),
    )


def downgrade() -> None:
    op.drop_table('worker_heartbeats')
