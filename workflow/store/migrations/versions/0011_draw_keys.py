"""inspection draws no filer can steer: per-district period keys with their commitments (E2), and the pending
inspections of withdrawn declarations (E4)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'draw_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('district', sa.String(length=32), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('key_hex', sa.String(length=64), nullable=False),
        sa.Column('commitment', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_draw_keys')),
        sa.UniqueConstraint('district', 'period', name=op.f('uq_draw_keys_district')),
    )
    op.create_table(
        'pending_inspections',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('certificate_line_id', sa.Integer(), nullable=False),
        sa.Column('declaration_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('declaration_no', sa.String(length=40), nullable=False),
        sa.Column('withdrawn_on', sa.Date(), nullable=False),
        sa.Column('qty', sa.BigInteger(), nullable=False),
        sa.Column('carried_qty', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['certificate_line_id'],
            ['certificate_lines.id'],
            name=op.f('fk_pending_inspections_certificate_line_id_certificate_lines'),
        ),
        sa.ForeignKeyConstraint(
            ['declaration_id'], ['declarations.id'], name=op.f('fk_pending_inspections_declaration_id_declarations')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_inspections')),
    )
    op.create_index(
        'ix_pending_inspections_line', 'pending_inspections', ['certificate_line_id', 'withdrawn_on'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_pending_inspections_line', table_name='pending_inspections')
    op.drop_table('pending_inspections')
    op.drop_table('draw_keys')
