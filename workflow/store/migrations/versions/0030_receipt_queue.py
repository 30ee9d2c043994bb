"""receipts signed after the commit: a queue of the movements waiting for theirs, and the chain heads kept apart.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

GENESIS = "0" * 64  # workflow/domain/audit_chain.py: the head of a line with no receipt yet
HEAD_COLUMNS = ('receipt_net', 'receipt_hash', 'receipt_seq')


def upgrade() -> None:
    # A write-off no longer signs its receipt under the line's lock: it queues the movement, and the receipt
    # sequencer signs and chains the receipts after the commit (workflow/store/receipt_sequencer.py, #15). Every
    # movement before this revision has its receipt already: the queue starts empty. No foreign key: the row is
    # written in the statement that inserts its entry, and a key's check would cost that statement an index probe.
    op.create_table(
        'receipt_queue',
        sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.PrimaryKeyConstraint('ledger_entry_id', name=op.f('pk_receipt_queue')),
    )
    # The heads move off the certificate lines (migration 0026) into a table only the sequencer locks: a sequencer
    # that locked a line to move its head would wait for write-offs, and they for it, in no one order.
    op.create_table(
        'receipt_heads',
        sa.Column('certificate_line_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('receipt_hash', sa.String(length=64), nullable=False),
        sa.Column('net_committed', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['certificate_line_id'],
            ['certificate_lines.id'],
            name=op.f('fk_receipt_heads_certificate_line_id_certificate_lines'),
        ),
        sa.PrimaryKeyConstraint('certificate_line_id', name=op.f('pk_receipt_heads')),
    )
    op.execute(
        "INSERT INTO receipt_heads (certificate_line_id, seq, receipt_hash, net_committed) "
        "SELECT id, receipt_seq, receipt_hash, receipt_net FROM certificate_lines WHERE receipt_seq > 0"
    )
    # Plain ALTER TABLE on both engines (SQLite since 3.35), as migration 0026's downgrade.
    for column in HEAD_COLUMNS:
        op.execute(f"ALTER TABLE certificate_lines DROP COLUMN {column}")


def downgrade() -> None:
    # The revision before signs every receipt in its write-off's transaction and never reads the queue: a movement
    # still waiting would never get its receipt. `specgoods audit seal` empties the queue first.
    waiting = op.get_bind().execute(sa.text("SELECT count(*) FROM receipt_queue")).scalar()
    if waiting:
        raise RuntimeError(f"{waiting} write-off(s) wait for their receipts: run `specgoods audit seal` first")
    op.add_column('certificate_lines', sa.Column('receipt_seq', sa.Integer(), nullable=False, server_default='0'))
    op.add_column(
        'certificate_lines', sa.Column('receipt_hash', sa.String(length=64), nullable=False, server_default=GENESIS)
    )
    op.add_column('certificate_lines', sa.Column('receipt_net', sa.BigInteger(), nullable=False, server_default='0'))
    head = "(SELECT h.{column} FROM receipt_heads h WHERE h.certificate_line_id = certificate_lines.id)"
    op.execute(
        "UPDATE certificate_lines SET "
        f"receipt_seq = {head.format(column='seq')}, "
        f"receipt_hash = {head.format(column='receipt_hash')}, "
        f"receipt_net = {head.format(column='net_committed')} "
        "WHERE EXISTS (SELECT 1 FROM receipt_heads h WHERE h.certificate_line_id = certificate_lines.id)"
    )
    op.drop_table('receipt_heads')
    op.drop_table('receipt_queue')
