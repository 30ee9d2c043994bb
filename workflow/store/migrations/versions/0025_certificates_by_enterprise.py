"""an enterprise's certificates by id: the applicant's list is one keyset scan, however many it holds.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The applicant's page reads an enterprise's newest fifty (`enterprise_id = ? AND id < ? ORDER BY id DESC`): on
    # the enterprise_id index alone it fetched and sorted every certificate the enterprise ever held.
    op.create_index('ix_certificates_enterprise', 'certificates', ['enterprise_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_certificates_enterprise', table_name='certificates')
