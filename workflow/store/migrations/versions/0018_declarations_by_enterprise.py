"""an applicant's declarations, newest first, read through an index that leads with the enterprise.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_declarations_enterprise', 'declarations', ['enterprise_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_declarations_enterprise', table_name='declarations')
