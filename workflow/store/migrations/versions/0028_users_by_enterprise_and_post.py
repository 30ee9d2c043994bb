"""an enterprise's users, a district's officers of one post: whom a notice goes to, by index.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A held declaration, a grant or a screening tells the enterprise's users, and a step tells the district's
    # officers of the next post, each by an INSERT … SELECT over users on the request path: without these indexes
    # every one read the whole users table, which grows with the province's enterprises (issue #15).
    op.create_index('ix_users_enterprise', 'users', ['enterprise_id'], unique=False)
    op.create_index('ix_users_district_role', 'users', ['district', 'role'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_users_district_role', table_name='users')
    op.drop_index('ix_users_enterprise', table_name='users')
