"""The complaint list's sorts (by deadline, priority, stage) walk an index in their order, for
everyone and within one department; and each staff member's saved views of the list.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.ranks import PRIORITY_RANK_SQL, STAGE_RANK_SQL

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: dict[str, list[str | sa.TextClause]] = {
    "ix_complaints_deadline": ["deadline", "id"],
    "ix_complaints_department_deadline": ["department_code", "deadline", "id"],
    "ix_complaints_priority_rank": [sa.text(f"({PRIORITY_RANK_SQL})"), "deadline", "id"],
    "ix_complaints_department_priority_rank": ["department_code", sa.text(f"({PRIORITY_RANK_SQL})"), "deadline", "id"],
    "ix_complaints_stage_rank": [sa.text(f"({STAGE_RANK_SQL})"), "deadline", "id"],
    "ix_complaints_department_stage_rank": ["department_code", sa.text(f"({STAGE_RANK_SQL})"), "deadline", "id"],
    # "Assigned to me", most pressing first (admin.services.queues)
    "ix_complaints_assignee_priority_rank": ["assignee", sa.text(f"({PRIORITY_RANK_SQL})"), "deadline", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "complaints", columns)
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("username", "name", name="uq_saved_views_username_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_views")
    for name in INDEXES:
        op.drop_index(name, "complaints")
