"""each certificate line keeps the head of its receipt chain.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

GENESIS = "0" * 64  # workflow/domain/audit_chain.py: the head of a line with no receipt yet

# The latest receipt of each line that has one; portable SQL, since SQLite has no UPDATE … FROM before 3.33.
LATEST = (
    "(SELECT r.{column} FROM writeoff_receipts r WHERE r.certificate_line_id = certificate_lines.id "
    "ORDER BY r.seq DESC LIMIT 1)"
)


def upgrade() -> None:
    # The guarded UPDATE that locks a line for a write-off returns its chain's head with its balance, so the
    # write-off no longer reads the receipts table under the lock (docs/ledger.md, "Receipts").
    op.add_column('certificate_lines', sa.Column('receipt_seq', sa.Integer(), nullable=False, server_default='0'))
    op.add_column(
        'certificate_lines', sa.Column('receipt_hash', sa.String(length=64), nullable=False, server_default=GENESIS)
    )
    op.add_column('certificate_lines', sa.Column('receipt_net', sa.BigInteger(), nullable=False, server_default='0'))
    op.execute(
        "UPDATE certificate_lines SET "
        f"receipt_seq = {LATEST.format(column='seq')}, "
        f"receipt_hash = {LATEST.format(column='receipt_hash')}, "
        f"receipt_net = {LATEST.format(column='net_committed')} "
        "WHERE EXISTS (SELECT 1 FROM writeoff_receipts r WHERE r.certificate_line_id = certificate_lines.id)"
    )


def downgrade() -> None:
    # Plain ALTER TABLE on both engines (SQLite since 3.35): a batch copy of the table would drop the original,
    # which the declaration lines and ledger entries that reference its rows do not allow.
    for column in ('receipt_net', 'receipt_hash', 'receipt_seq'):
        op.execute(f"ALTER TABLE certificate_lines DROP COLUMN {column}")
