"""review assessments notifications

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('dead_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=80), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('failed_at', sa.DateTime(), nullable=False),
    sa.Column('retried_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters'))
    )
    op.create_table('expert_conflicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_expert_conflicts_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['expert_id'], ['users.id'], name=op.f('fk_expert_conflicts_expert_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_expert_conflicts')),
    sa.UniqueConstraint('expert_id', 'enterprise_id', name=op.f('uq_expert_conflicts_expert_id'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.Column('email_status', sa.String(length=12), nullable=False),
    sa.Column('email_attempts', sa.Integer(), nullable=False),
    sa.Column('email_error', sa.Text(), nullable=False),
    sa.Column('emailed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_inbox', ['user_id', 'read_at', 'id'], unique=False)

    op.create_table('clock_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('raised_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_clock_alerts_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clock_alerts')),
    sa.UniqueConstraint('application_id', 'kind', name=op.f('uq_clock_alerts_application_id'))
    )
    op.create_table('risk_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('product_key', sa.String(length=64), nullable=False),
    sa.Column('assessor_level', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('panel_size', sa.Integer(), nullable=False),
    sa.Column('quorum', sa.Integer(), nullable=False),
    sa.Column('conclusion_rule', sa.String(length=12), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('concluded_on', sa.Date(), nullable=True),
    sa.Column('reuse_until', sa.Date(), nullable=True),
    sa.Column('reused_from_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_risk_assessments_application_id_applications')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_risk_assessments_enterprise_id_enterprises')),
    sa.ForeignKeyConstraint(['reused_from_id'], ['risk_assessments.id'], name=op.f('fk_risk_assessments_reused_from_id_risk_assessments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_assessments'))
    )
    with op.batch_alter_table('risk_assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_assessments_application_id'), ['application_id'], unique=False)
        batch_op.create_index('ix_risk_assessments_reuse', ['enterprise_id', 'product_key', 'state'], unique=False)

    op.create_table('panel_seats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assessment_id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('opinion', sa.String(length=12), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['assessment_id'], ['risk_assessments.id'], name=op.f('fk_panel_seats_assessment_id_risk_assessments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['expert_id'], ['users.id'], name=op.f('fk_panel_seats_expert_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_seats')),
    sa.UniqueConstraint('assessment_id', 'expert_id', name=op.f('uq_panel_seats_assessment_id'))
    )
    with op.batch_alter_table('panel_seats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_panel_seats_expert_id'), ['expert_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=False, server_default='zh'))




def downgrade() -> None:

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('email')

    with op.batch_alter_table('panel_seats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_panel_seats_expert_id'))

    op.drop_table('panel_seats')
    with op.batch_alter_table('risk_assessments', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_assessments_reuse')
        batch_op.drop_index(batch_op.f('ix_risk_assessments_application_id'))

    op.drop_table('risk_assessments')
    op.drop_table('clock_alerts')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_inbox')

    op.drop_table('notifications')
    op.drop_table('expert_conflicts')
    op.drop_table('dead_letters')

