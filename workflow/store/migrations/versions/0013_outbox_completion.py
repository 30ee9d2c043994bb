"""background work that always finishes: an outbox row is complete only when its task's effect has committed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INCOMPLETE = sa.text("completed_at IS NULL AND redeliver_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deliveries", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("redeliver_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=12), nullable=False, server_default=""))
    # Rows published before this revision had no completion to wait for: they count as done when they were sent,
    # so the first sweep after the upgrade does not send the whole history again.
    op.execute(
        "UPDATE outbox SET completed_at = published_at, outcome = 'done', deliveries = 1 WHERE published_at IS NOT NULL"
    )
    op.create_index(
        "ix_outbox_incomplete",
        "outbox",
        ["redeliver_at"],
        unique=False,
        postgresql_where=INCOMPLETE,
        sqlite_where=INCOMPLETE,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_incomplete", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("outcome")
        batch_op.drop_column("completed_at")
        batch_op.drop_column("redeliver_at")
        batch_op.drop_column("deliveries")
