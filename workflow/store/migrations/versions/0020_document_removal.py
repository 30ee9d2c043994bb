"""an attachment the applicant removes while holding the file is kept, marked removed, out of the attached set.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Kept, not deleted: what a submission carried stays in the record; the audit event names who removed it and why.
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('removed_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_documents_removed_by_users'), 'users', ['removed_by'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_documents_removed_by_users'), type_='foreignkey')
        batch_op.drop_column('removed_by')
        batch_op.drop_column('removed_at')
