"""an enterprise's laboratories and facilities with their biosafety level and accreditation (R9, R14, R62).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

Goods lines keep their facts as JSON, so a line's `lab_id` needs no column; old lines keep their free-text `user_lab`
(readable, never a lab reference). `certificate_labs` links a granted certificate to the labs its lines named; the
daily lapse sweep flags a link once (docs/biosafety.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'laboratories',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enterprise_id', sa.Integer(), nullable=False),
        sa.Column('district', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('address', sa.String(length=300), nullable=False),
        sa.Column('bsl_level', sa.Integer(), nullable=False),
        sa.Column('accreditation_body', sa.String(length=200), nullable=False),
        sa.Column('accreditation_no', sa.String(length=40), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('evidence_sha256', sa.String(length=64), nullable=False),
        sa.Column('evidence_filename', sa.String(length=255), nullable=False),
        sa.Column('verified_on', sa.Date(), nullable=True),
        sa.Column('verified_by', sa.Integer(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('bsl_level BETWEEN 1 AND 4', name=op.f('ck_laboratories_bsl_level')),
        sa.ForeignKeyConstraint(
            ['enterprise_id'], ['enterprises.id'], name=op.f('fk_laboratories_enterprise_id_enterprises')
        ),
        sa.ForeignKeyConstraint(['verified_by'], ['users.id'], name=op.f('fk_laboratories_verified_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_laboratories')),
    )
    op.create_index('ix_laboratories_enterprise', 'laboratories', ['enterprise_id', 'id'])
    op.create_index('ix_laboratories_district_verified', 'laboratories', ['district', 'verified_on'])
    op.create_table(
        'certificate_labs',
        sa.Column('certificate_id', sa.Integer(), nullable=False),
        sa.Column('lab_id', sa.Integer(), nullable=False),
        sa.Column('flagged_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['certificate_id'], ['certificates.id'], name=op.f('fk_certificate_labs_certificate_id_certificates')
        ),
        sa.ForeignKeyConstraint(['lab_id'], ['laboratories.id'], name=op.f('fk_certificate_labs_lab_id_laboratories')),
        sa.PrimaryKeyConstraint('certificate_id', 'lab_id', name=op.f('pk_certificate_labs')),
    )
    op.create_index('ix_certificate_labs_lab', 'certificate_labs', ['lab_id', 'certificate_id'])


def downgrade() -> None:
    op.drop_index('ix_certificate_labs_lab', table_name='certificate_labs')
    op.drop_table('certificate_labs')
    op.drop_index('ix_laboratories_district_verified', table_name='laboratories')
    op.drop_index('ix_laboratories_enterprise', table_name='laboratories')
    op.drop_table('laboratories')
