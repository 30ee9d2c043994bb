"""write-off ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('idempotency_keys',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('declarations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('declaration_no', sa.String(length=40), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('port', sa.String(length=40), nullable=False),
    sa.Column('declared_on', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('hold_reason', sa.Text(), nullable=False),
    sa.Column('route', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('disposal', sa.String(length=16), nullable=True),
    sa.Column('paper_original_collected', sa.Boolean(), nullable=False),
    sa.Column('released_on', sa.Date(), nullable=True),
    sa.Column('follow_up_due_on', sa.Date(), nullable=True),
    sa.Column('follow_up_alerted_at', sa.DateTime(), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('policy_id', sa.String(length=40), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_declarations_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_declarations_created_by_users')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprises.id'], name=op.f('fk_declarations_enterprise_id_enterprises')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declarations')),
    sa.UniqueConstraint('declaration_no', name=op.f('uq_declarations_declaration_no'))
    )
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_declarations_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index('ix_declarations_follow_up', ['state', 'follow_up_due_on'], unique=False)

    op.create_table('declaration_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('declaration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('certificate_line_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('requested_qty', sa.BigInteger(), nullable=False),
    sa.Column('drawn_qty', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_line_id'], ['certificate_lines.id'], name=op.f('fk_declaration_lines_certificate_line_id_certificate_lines')),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_declaration_lines_declaration_id_declarations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declaration_lines')),
    sa.UniqueConstraint('declaration_id', 'line_no', name=op.f('uq_declaration_lines_declaration_id'))
    )
    with op.batch_alter_table('declaration_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_declaration_lines_certificate_line_id'), ['certificate_line_id'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('certificate_line_id', sa.Integer(), nullable=False),
    sa.Column('declaration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('reverses_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('approver_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('policy_id', sa.String(length=40), nullable=False),
    sa.CheckConstraint('qty > 0', name=op.f('ck_ledger_entries_qty_positive')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_ledger_entries_actor_id_users')),
    sa.ForeignKeyConstraint(['approver_id'], ['users.id'], name=op.f('fk_ledger_entries_approver_id_users')),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_ledger_entries_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['certificate_line_id'], ['certificate_lines.id'], name=op.f('fk_ledger_entries_certificate_line_id_certificate_lines')),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], name=op.f('fk_ledger_entries_declaration_id_declarations')),
    sa.ForeignKeyConstraint(['reverses_entry_id'], ['ledger_entries.id'], name=op.f('fk_ledger_entries_reverses_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_reverses_entry_id'), ['reverses_entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_declaration_id'), ['declaration_id'], unique=False)
        batch_op.create_index('ix_ledger_entries_line', ['certificate_line_id', 'id'], unique=False)

    op.create_table('reversals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commit_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.Column('reason_code', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['commit_entry_id'], ['ledger_entries.id'], name=op.f('fk_reversals_commit_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_reversals_decided_by_users')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_reversals_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reversals'))
    )
    with op.batch_alter_table('reversals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reversals_commit_entry_id'), ['commit_entry_id'], unique=False)

    with op.batch_alter_table('certificate_lines', schema=None) as batch_op:
        # Existing lines start with nothing drawn; the ledger is empty before this revision.
        batch_op.add_column(sa.Column('committed_qty', sa.BigInteger(), nullable=False,
                                      server_default=sa.text('0')))
        batch_op.add_column(sa.Column('reserved_qty', sa.BigInteger(), nullable=False,
                                      server_default=sa.text('0')))
        batch_op.create_check_constraint('balances_not_negative', 'committed_qty >= 0 AND reserved_qty >= 0')
        batch_op.create_check_constraint('never_overdrawn', 'committed_qty + reserved_qty <= approved_qty')

    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_uses', sa.Integer(), nullable=False, server_default=sa.text('0')))




def downgrade() -> None:

    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_column('open_uses')

    with op.batch_alter_table('certificate_lines', schema=None) as batch_op:
        batch_op.drop_constraint('never_overdrawn', type_='check')
        batch_op.drop_constraint('balances_not_negative', type_='check')
        batch_op.drop_column('reserved_qty')
        batch_op.drop_column('committed_qty')

    with op.batch_alter_table('reversals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reversals_commit_entry_id'))

    op.drop_table('reversals')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_line')
        batch_op.drop_index(batch_op.f('ix_ledger_entries_reverses_entry_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_entries_declaration_id'))

    op.drop_table('ledger_entries')
    with op.batch_alter_table('declaration_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_declaration_lines_certificate_line_id'))

    op.drop_table('declaration_lines')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_follow_up')
        batch_op.drop_index(batch_op.f('ix_declarations_certificate_id'))

    op.drop_table('declarations')
    op.drop_table('idempotency_keys')

