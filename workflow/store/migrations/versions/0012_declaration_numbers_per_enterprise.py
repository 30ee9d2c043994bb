"""declaration numbers unique per enterprise: a number another enterprise filed is neither confirmed nor reserved

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The constraint keeps its name and its leading column (a lookup by number alone still uses its index); the
    # enterprise joins it, so two enterprises may each file their own declaration under the same number.
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_constraint('uq_declarations_declaration_no', type_='unique')
        batch_op.create_unique_constraint('uq_declarations_declaration_no', ['declaration_no', 'enterprise_id'])


def downgrade() -> None:
    # Fails while two enterprises share a number: which one keeps it is not the migration's decision.
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_constraint('uq_declarations_declaration_no', type_='unique')
        batch_op.create_unique_constraint('uq_declarations_declaration_no', ['declaration_no'])
