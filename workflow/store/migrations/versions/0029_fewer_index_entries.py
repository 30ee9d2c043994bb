"""fewer index entries per row written: two indexes another covers, three kept only for the rows looked up.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

REVERSAL = sa.text('reverses_entry_id IS NOT NULL')
SEALED = sa.text('chain_seq IS NOT NULL')
UNPUBLISHED = sa.text('published_at IS NULL')


def upgrade() -> None:
    # Every index entry is written on the request path of whatever inserts the row (or updates an indexed column),
    # issue #15. (enterprise_id) is the leading column of (enterprise_id, id) on both tables: the latter serves
    # every lookup the former did, and a step of the lifecycle updates the application's state, an indexed column,
    # so every index of applications gets a new entry on every step.
    op.drop_index('ix_applications_enterprise_id', table_name='applications')
    op.drop_index('ix_certificates_enterprise_id', table_name='certificates')
    # Only a reversal names the entry it reverses; every reservation and commit wrote a NULL entry here.
    op.drop_index('ix_ledger_entries_reverses_entry_id', table_name='ledger_entries')
    _partial('ix_ledger_entries_reverses_entry_id', 'ledger_entries', ['reverses_entry_id'], REVERSAL)
    # An event is written unsealed (its place NULL) and sealed by the sequencer: the unique place needs entries for
    # sealed events only; every lookup by place names one, so the planner proves the predicate.
    op.drop_index('ix_audit_events_chain', table_name='audit_events')
    _partial('ix_audit_events_chain', 'audit_events', ['district', 'chain_seq'], SEALED, unique=True)
    # The relay reads the rows never sent, by id; a sent row left an entry behind it for ever.
    op.drop_index('ix_outbox_unpublished', table_name='outbox')
    _partial('ix_outbox_unpublished', 'outbox', ['id'], UNPUBLISHED)


def downgrade() -> None:
    op.drop_index('ix_outbox_unpublished', table_name='outbox')
    op.create_index('ix_outbox_unpublished', 'outbox', ['published_at', 'id'], unique=False)
    op.drop_index('ix_audit_events_chain', table_name='audit_events')
    op.create_index('ix_audit_events_chain', 'audit_events', ['district', 'chain_seq'], unique=True)
    op.drop_index('ix_ledger_entries_reverses_entry_id', table_name='ledger_entries')
    op.create_index('ix_ledger_entries_reverses_entry_id', 'ledger_entries', ['reverses_entry_id'], unique=False)
    op.create_index('ix_certificates_enterprise_id', 'certificates', ['enterprise_id'], unique=False)
    op.create_index('ix_applications_enterprise_id', 'applications', ['enterprise_id'], unique=False)


def _partial(name: str, table: str, columns: list[str], where: sa.TextClause, unique: bool = False) -> None:
    op.create_index(name, table, columns, unique=unique, postgresql_where=where, sqlite_where=where)
