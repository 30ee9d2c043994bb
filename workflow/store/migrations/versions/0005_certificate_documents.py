"""certificate documents

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('certificate_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_certificate_documents_certificate_id_certificates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_documents')),
    sa.UniqueConstraint('certificate_id', name=op.f('uq_certificate_documents_certificate_id'))
    )
    with op.batch_alter_table('certificate_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_documents_pdf_sha256'), ['pdf_sha256'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('certificate_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_documents_pdf_sha256'))

    op.drop_table('certificate_documents')
