"""Webhooks in (issue 14): the signatures of the signed requests already taken (replay protection).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("signature_hash", sa.String(64), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhook_deliveries_seen_at", "webhook_deliveries", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_seen_at", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
