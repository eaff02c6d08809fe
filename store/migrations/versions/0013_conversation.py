"""The conversation with the customer (issue 14): what the lists and CS's queue need of it.
The messages themselves live in the row's ``state`` document; here, whether the customer wrote
after closing (and asked to reopen), when the customer last wrote, and until when a closed
complaint may be reopened (the queue holds it only until then: afterwards the workflow has
completed and nothing can be done on it), with the index of CS's "wrote after closing" queue.
Existing rows: no message yet (false, false, NULL) as their histories say; their reopen_until
stays NULL (the queue never holds them: nobody wrote).

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE on both databases, as 0008: a SQLite table copy would drop 0007's triggers.


def upgrade() -> None:
    op.add_column(
        "complaints", sa.Column("wrote_after_closing", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("complaints", sa.Column("reopen_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("complaints", sa.Column("last_customer_message_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("complaints", sa.Column("reopen_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_complaints_wrote_after_closing",
        "complaints",
        ["wrote_after_closing", "stage", "last_customer_message_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_complaints_wrote_after_closing", table_name="complaints")
    op.drop_column("complaints", "reopen_until")
    op.drop_column("complaints", "last_customer_message_at")
    op.drop_column("complaints", "reopen_requested")
    op.drop_column("complaints", "wrote_after_closing")
