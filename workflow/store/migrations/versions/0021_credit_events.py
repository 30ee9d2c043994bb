"""an enterprise's credit events: violation cases and dated credit changes (R68–R74).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # R74: a case's reference only; a credit change names the record it opened and the one it closed (R73).
    op.create_table('violation_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('case_no', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('summary', sa.String(length=2000), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_violation_cases_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_violation_cases_recorded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_violation_cases')),
    sa.UniqueConstraint('enterprise_id', 'case_no', name='uq_violation_cases_enterprise_case')
    )
    op.create_index('ix_violation_cases_enterprise_decided', 'violation_cases', ['enterprise_id', 'decided_on'],
                    unique=False)
    op.create_table('credit_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('regime', sa.String(length=40), nullable=False),
    sa.Column('from_tier', sa.String(length=40), nullable=False),
    sa.Column('to_tier', sa.String(length=40), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('ground', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('opened_record_id', sa.Integer(), nullable=False),
    sa.Column('closed_record_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['violation_cases.id'], name=op.f('fk_credit_changes_case_id_violation_cases')),
    sa.ForeignKeyConstraint(['closed_record_id'], ['credit_records.id'],
                            name=op.f('fk_credit_changes_closed_record_id_credit_records')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_credit_changes_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['opened_record_id'], ['credit_records.id'],
                            name=op.f('fk_credit_changes_opened_record_id_credit_records')),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_credit_changes_recorded_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_changes'))
    )
    op.create_index('ix_credit_changes_enterprise', 'credit_changes', ['enterprise_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_credit_changes_enterprise', table_name='credit_changes')
    op.drop_table('credit_changes')
    op.drop_index('ix_violation_cases_enterprise_decided', table_name='violation_cases')
    op.drop_table('violation_cases')
