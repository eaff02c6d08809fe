"""The staff member a complaint is assigned to (issue 13), with the "assigned to me" queue's
index: (assignee, stage, deadline). Existing rows are unassigned (NULL), as their histories are.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both databases (SQLite has ADD and, since 3.35, DROP COLUMN): a batch
# table copy on SQLite would drop the search triggers of migration 0007 with the old table.


def upgrade() -> None:
    op.add_column("complaints", sa.Column("assignee", sa.String(100), nullable=True))
    op.create_index("ix_complaints_assignee_stage_deadline", "complaints", ["assignee", "stage", "deadline", "id"])


def downgrade() -> None:
    op.drop_index("ix_complaints_assignee_stage_deadline", table_name="complaints")
    op.drop_column("complaints", "assignee")
