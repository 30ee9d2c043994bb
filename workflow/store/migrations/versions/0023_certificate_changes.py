"""changes to a granted certificate: amendment requests, replacement and cancellation (R43, §8).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

`certificate_changes` holds the holder's requests (cancellation, amendment) with the field-level diff the district
decides on; an approved amendment's values are the certificate's particulars from then on (docs/certificate-changes.md).
`certificate_replacements` links a replacement application to the certificate it replaces and, once granted, to the
new certificate, so each certificate finds the other.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "certificate_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"], ["certificates.id"], name=op.f("fk_certificate_changes_certificate_id_certificates")
        ),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"], name=op.f("fk_certificate_changes_requested_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_certificate_changes_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_changes")),
    )
    op.create_index("ix_certificate_changes_certificate", "certificate_changes", ["certificate_id", "id"])
    op.create_index("ix_certificate_changes_district_state", "certificate_changes", ["district", "state", "id"])
    op.create_table(
        "certificate_replacements",
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("old_certificate_id", sa.Integer(), nullable=False),
        sa.Column("new_certificate_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_certificate_replacements_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["old_certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_replacements_old_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["new_certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_replacements_new_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_certificate_replacements")),
        sa.UniqueConstraint("new_certificate_id", name=op.f("uq_certificate_replacements_new_certificate_id")),
    )
    op.create_index("ix_certificate_replacements_old", "certificate_replacements", ["old_certificate_id"])


def downgrade() -> None:
    op.drop_index("ix_certificate_replacements_old", table_name="certificate_replacements")
    op.drop_table("certificate_replacements")
    op.drop_index("ix_certificate_changes_district_state", table_name="certificate_changes")
    op.drop_index("ix_certificate_changes_certificate", table_name="certificate_changes")
    op.drop_table("certificate_changes")
