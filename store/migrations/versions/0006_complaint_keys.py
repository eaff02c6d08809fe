"""Per-complaint data keys (envelope encryption), wrapped by the master key; shredded (the
wrapped key removed) when the complaint is anonymised.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.tables import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaint_keys",
        sa.Column("complaint_id", sa.String(20), primary_key=True),
        sa.Column("kek_id", sa.String(100), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("shredded_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("complaint_keys")
