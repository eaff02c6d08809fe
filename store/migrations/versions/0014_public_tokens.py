"""The customer's side (issue 14): links to the public status page, stored as hashes of their
tokens (revocable), and the customer's satisfaction rating on the complaint row.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "public_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(100)),
        sa.UniqueConstraint("token_hash", name="uq_public_tokens_token_hash"),
    )
    op.create_index("ix_public_tokens_complaint_id", "public_tokens", ["complaint_id"])
    op.add_column("complaints", sa.Column("satisfaction_score", sa.Integer, nullable=True))
    op.add_column("complaints", sa.Column("satisfaction_comment", sa.Text, nullable=True))
    op.add_column("complaints", sa.Column("satisfaction_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_complaints_satisfaction_at", "complaints", ["satisfaction_at", "satisfaction_score"])


def downgrade() -> None:
    op.drop_index("ix_complaints_satisfaction_at", "complaints")
    for column in ("satisfaction_at", "satisfaction_comment", "satisfaction_score"):
        op.drop_column("complaints", column)
    op.drop_index("ix_public_tokens_complaint_id", "public_tokens")
    op.drop_table("public_tokens")
