"""an enterprise's applications by id: the applicant's list is one keyset scan, however many it filed.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The applicant's list and `GET /api/v1/applications` read an enterprise's newest fifty (`enterprise_id = ? AND
    # id < ? ORDER BY id DESC`): on the enterprise_id index alone they fetched and sorted every application the
    # enterprise ever filed, 5 ms at a thousand an enterprise (bench/pages.py at a million), as 0025 found for
    # certificates.
    op.create_index('ix_applications_enterprise', 'applications', ['enterprise_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_applications_enterprise', table_name='applications')
