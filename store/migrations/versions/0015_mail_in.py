"""Mail in: what the intake made of each inbound message, keyed by its intake key (issue 14).
Bounces mark the outbox mail ``bounced`` in the existing status column, the reason in
``last_error``: no change to mail_outbox.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_inbox",
        sa.Column("intake_key", sa.String(520), primary_key=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("complaint_id", sa.String(20), nullable=True),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mail_inbox_complaint_id", "mail_inbox", ["complaint_id"])


def downgrade() -> None:
    op.drop_index("ix_mail_inbox_complaint_id", "mail_inbox")
    op.drop_table("mail_inbox")
