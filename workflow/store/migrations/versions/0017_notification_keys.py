"""notifications written by a task carry a key, so a re-delivered task writes each one once; certificates by validity

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a notification written in the transaction of its change needs no key (it commits once or never).
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedup_key', sa.String(length=160), nullable=True))
    # Unique, and NULLs are distinct on both PostgreSQL and SQLite, so only keyed rows are checked.
    op.create_index('ux_notifications_dedup_key', 'notifications', ['dedup_key'], unique=True)
    # The daily reminder of certificates expiring within 30 days (and the expiry sweep) read by validity.
    op.create_index('ix_certificates_validity', 'certificates', ['state', 'valid_until'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_certificates_validity', table_name='certificates')
    op.drop_index('ux_notifications_dedup_key', table_name='notifications')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('dedup_key')
