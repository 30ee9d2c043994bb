"""decision guards: the head's override of a panel's rejection (A8), applicant bans (R26), the stored decision due
date (R19–R22)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_assessments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overridden_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('override_reason', sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column('overridden_on', sa.Date(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_risk_assessments_overridden_by_users'), 'users', ['overridden_by'], ['id']
        )
    op.create_table(
        'applicant_bans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enterprise_id', sa.Integer(), nullable=False),
        sa.Column('ground', sa.String(length=40), nullable=False),
        sa.Column('from_on', sa.Date(), nullable=False),
        sa.Column('until_on', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=60), nullable=False),
        sa.Column('reason', sa.String(length=2000), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['enterprise_id'], ['enterprises.id'], name=op.f('fk_applicant_bans_enterprise_id_enterprises')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_applicant_bans')),
    )
    op.create_index('ix_applicant_bans_enterprise_until', 'applicant_bans', ['enterprise_id', 'until_on'], unique=False)
    # Rows accepted before this revision get their due date from the clock sweep's next run.
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision_due_on', sa.Date(), nullable=True))
        batch_op.create_index('ix_applications_district_due', ['district', 'decision_due_on'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_applicant_bans_enterprise_until', table_name='applicant_bans')
    op.drop_table('applicant_bans')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_district_due')
        batch_op.drop_column('decision_due_on')
    with op.batch_alter_table('risk_assessments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_risk_assessments_overridden_by_users'), type_='foreignkey')
        batch_op.drop_column('overridden_on')
        batch_op.drop_column('override_reason')
        batch_op.drop_column('overridden_by')
