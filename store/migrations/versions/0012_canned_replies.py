"""Canned replies: reply templates per language, category and department, kept by managers
and administrators and inserted into the resolve, reply and letter forms.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("department_code", sa.String(20), sa.ForeignKey("departments.code"), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_canned_replies_offered", "canned_replies", ["language", "active", "category", "department_code"]
    )


def downgrade() -> None:
    op.drop_index("ix_canned_replies_offered", "canned_replies")
    op.drop_table("canned_replies")
