"""the dashboard's counts by day: certificates issued per district and local date (decisions are counted from now)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

No schema change: the counts by day live in `district_counts` beside the others, named "issued.<YYYY-MM-DD>.paper"
and "decided.<YYYY-MM-DD>.<working days>", and by month "issuedm.<YYYY-MM>.paper" (workflow/store/district_counts.py),
so a period is a few index ranges. The certificates already issued are counted here, set-based, on both engines.
The decisions already taken need the holiday calendar, which a migration does not have:
`specgoods db recount-decisions` counts them once after upgrading.
"""

from __future__ import annotations

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

KIND = "CASE WHEN paperless THEN '.paperless' ELSE '.paper' END"
MONTH = "substr(CAST(valid_from AS TEXT), 1, 7)"
BACKFILL = (
    "INSERT INTO district_counts (district, counter, value) "
    f"SELECT district, 'issued.' || valid_from || {KIND}, COUNT(*) FROM certificates "
    "GROUP BY district, valid_from, paperless "
    f"UNION ALL SELECT district, 'issuedm.' || {MONTH} || {KIND}, COUNT(*) FROM certificates "
    f"GROUP BY district, {MONTH}, paperless"
)


def upgrade() -> None:
    op.execute(BACKFILL)


def downgrade() -> None:
    for table in ('district_counts', 'district_count_deltas'):
        op.execute(
            f"DELETE FROM {table} WHERE counter LIKE 'issued.%' OR counter LIKE 'decided.%' "
            "OR counter LIKE 'issuedm.%' OR counter LIKE 'decidedm.%'"
        )
