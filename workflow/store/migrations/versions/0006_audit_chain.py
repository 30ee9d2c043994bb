"""audit hash chain, signed checkpoints, write-off receipts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Existing audit events are chained in id order per district (the order they were written). The encoding comes from
workflow.domain.audit_chain, whose version number is inside every hash, so a later encoding cannot silently change
what this migration wrote.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workflow.domain.audit_chain import as_stored, link

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_FIELDS = (
    "id", "district", "object_type", "object_id", "object_ref", "actor_id", "actor_role", "actor_name", "at",
    "trigger", "from_state", "to_state", "reason", "policy_id", "policy_hash", "rule_ids", "inputs",
)


# Read back as the application reads them: datetimes and JSON values, not SQLite's text.
_TYPED: dict[str, sa.ColumnClause[object]] = {'at': sa.column('at', sa.DateTime()), 'rule_ids': sa.column('rule_ids', sa.JSON()),
          'inputs': sa.column('inputs', sa.JSON())}


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('event_hash', sa.String(length=64), nullable=True))
    op.create_table('audit_chain_heads',
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('event_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('district', name=op.f('pk_audit_chain_heads'))
    )
    _chain_existing_events()
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('chain_seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('event_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('ix_audit_events_chain', ['district', 'chain_seq'], unique=True)

    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('event_hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    sa.UniqueConstraint('district', 'seq', name=op.f('uq_audit_checkpoints_district'))
    )
    op.create_table('writeoff_receipts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('certificate_line_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('net_committed', sa.BigInteger(), nullable=False),
    sa.Column('receipt_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_writeoff_receipts_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['certificate_line_id'], ['certificate_lines.id'], name=op.f('fk_writeoff_receipts_certificate_line_id_certificate_lines')),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entries.id'], name=op.f('fk_writeoff_receipts_ledger_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_writeoff_receipts')),
    sa.UniqueConstraint('certificate_line_id', 'seq', name=op.f('uq_writeoff_receipts_certificate_line_id')),
    sa.UniqueConstraint('ledger_entry_id', name=op.f('uq_writeoff_receipts_ledger_entry_id'))
    )
    with op.batch_alter_table('writeoff_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_writeoff_receipts_certificate_id'), ['certificate_id'], unique=False)


def _chain_existing_events() -> None:
    events = sa.table(
        'audit_events',
        *(sa.column(name) for name in _FIELDS if name not in _TYPED),
        *_TYPED.values(),
        sa.column('chain_seq'), sa.column('prev_hash'), sa.column('event_hash'),
    )
    heads = sa.table('audit_chain_heads', sa.column('district'), sa.column('seq'), sa.column('event_hash'))
    connection = op.get_bind()
    rows = connection.execute(sa.select(*(events.c[name] for name in _FIELDS)).order_by(events.c.id)).mappings()
    by_district: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        event = dict(row)
        event['rule_ids'], event['inputs'] = as_stored(event['rule_ids']), as_stored(event['inputs'])
        by_district.setdefault(event['district'], []).append(event)
    for district, chain in by_district.items():
        seq, head = link(chain, 0, '0' * 64)
        for event in chain:
            connection.execute(
                events.update().where(events.c.id == event['id']).values(
                    chain_seq=event['chain_seq'], prev_hash=event['prev_hash'], event_hash=event['event_hash']
                )
            )
        connection.execute(heads.insert().values(district=district, seq=seq, event_hash=head))


def downgrade() -> None:
    with op.batch_alter_table('writeoff_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_writeoff_receipts_certificate_id'))
    op.drop_table('writeoff_receipts')
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_chain_heads')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_chain')
        batch_op.drop_column('event_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('chain_seq')
