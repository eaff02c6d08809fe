"""The customer as a key to their other complaints, and the first-response badges.

``customer_phone_key`` and ``customer_email_key`` hold the normalised phone and e-mail
(domain/customer_identity.py: the one normalisation, also used by the projection and every
search), each indexed with the history's order; ``duplicate_of`` is indexed for the original's
list of its duplicates. ``first_response_due`` and ``warned`` copy the state's first-response
target and day-15 warning, so the "to verify" queue sorts by the first and the lists show both.
Existing rows are filled from their own columns and state document.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from domain.customer_identity import email_key, phone_key
from store.tables import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_complaints_phone_key": ("customer_phone_key", "received_at", "id"),
    "ix_complaints_email_key": ("customer_email_key", "received_at", "id"),
    "ix_complaints_duplicate_of": ("duplicate_of", "received_at", "id"),
    "ix_complaints_stage_first_response": ("stage", "first_response_due", "id"),
}
BATCH = 1000


def _fill() -> None:
    """Every stored row's keys and first-response fields, in batches (the normalisation is
    Python's, the same the projection writes)."""
    complaints = sa.table(
        "complaints",
        sa.column("id", sa.String()),
        sa.column("customer_phone", sa.String()),
        sa.column("customer_email", sa.String()),
        sa.column("state", sa.JSON()),
        sa.column("customer_phone_key", sa.String()),
        sa.column("customer_email_key", sa.String()),
        sa.column("first_response_due", UtcDateTime()),
        sa.column("warned", sa.Boolean()),
    )
    bind = op.get_bind()
    update = (
        sa.update(complaints)
        .where(complaints.c.id == sa.bindparam("row_id"))
        .values(
            customer_phone_key=sa.bindparam("phone_key"),
            customer_email_key=sa.bindparam("email_key"),
            first_response_due=sa.bindparam("due", type_=UtcDateTime()),
            warned=sa.bindparam("was_warned", type_=sa.Boolean()),
        )
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(complaints.c.id, complaints.c.customer_phone, complaints.c.customer_email, complaints.c.state)
            .where(complaints.c.id > after)
            .order_by(complaints.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        values = []
        for row in rows:
            state = row.state or {}
            due = state.get("first_response_due")
            values.append(
                {
                    "row_id": row.id,
                    "phone_key": phone_key(row.customer_phone),
                    "email_key": email_key(row.customer_email),
                    "due": datetime.fromisoformat(due.replace("Z", "+00:00")) if isinstance(due, str) else None,
                    "was_warned": bool(state.get("warned", False)),
                }
            )
        bind.execute(update, values)
        after = rows[-1].id


def upgrade() -> None:
    op.add_column("complaints", sa.Column("customer_phone_key", sa.String(40), nullable=True))
    op.add_column("complaints", sa.Column("customer_email_key", sa.String(320), nullable=True))
    op.add_column("complaints", sa.Column("first_response_due", UtcDateTime(), nullable=True))
    op.add_column("complaints", sa.Column("warned", sa.Boolean(), nullable=False, server_default=sa.false()))
    _fill()
    for name, columns in INDEXES.items():
        op.create_index(name, "complaints", list(columns))


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="complaints")
    for column in ("warned", "first_response_due", "customer_email_key", "customer_phone_key"):
        op.drop_column("complaints", column)
