"""Indexes that match the complaint list's filters and its order (newest first).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_complaints_stage_received": ["stage", "received_at", "id"],
    "ix_complaints_department_received": ["department_code", "received_at", "id"],
    "ix_complaints_overdue_received": ["overdue", "received_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "complaints", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "complaints")
