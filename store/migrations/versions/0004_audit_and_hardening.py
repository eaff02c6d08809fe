"""Audit that outlives retention and hardening: the complaint log's hash chain (append-only),
archived workflow histories, revocable staff sessions, login lockout, personal data requests.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from domain.audit_chain import GENESIS, detail_digest, entry_hash
from store.tables import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROZEN = "complaint_id, seq, at, action, actor_user, actor_role, actor_department, stage_after, detail_digest, prev_hash, hash"


def _backfill_chain() -> None:
    """Rows logged before the chain existed get one, in seq order per complaint."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, complaint_id, seq, at, action, actor_user, actor_role, actor_department, detail "
        "FROM complaint_log ORDER BY complaint_id, seq")).mappings().all()
    import json
    prev: dict[str, str] = {}
    for row in rows:
        detail = row["detail"] if isinstance(row["detail"], dict) else json.loads(row["detail"] or "{}")
        at = row["at"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        digest = detail_digest(detail)
        previous = prev.get(row["complaint_id"], GENESIS)
        actor = (row["actor_user"], row["actor_role"], row["actor_department"])
        hashed = entry_hash(row["complaint_id"], row["seq"], at, row["action"], actor, digest, previous)
        bind.execute(sa.text("UPDATE complaint_log SET detail_digest = :d, prev_hash = :p, hash = :h WHERE id = :id"),
                     {"d": digest, "p": previous, "h": hashed, "id": row["id"]})
        prev[row["complaint_id"]] = hashed


def upgrade() -> None:
    with op.batch_alter_table("complaint_log") as batch:
        batch.add_column(sa.Column("detail_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("redacted_at", UtcDateTime(), nullable=True))
    _backfill_chain()
    with op.batch_alter_table("complaint_log") as batch:
        for column in ("detail_digest", "prev_hash", "hash"):
            batch.alter_column(column, existing_type=sa.String(64), nullable=False)
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("anonymised_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", UtcDateTime(), nullable=True))
    op.create_table(
        "history_archive",
        sa.Column("complaint_id", sa.String(20), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("archived_at", UtcDateTime(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("history_json", sa.Text(), nullable=False),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, index=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "data_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(20), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("done_at", UtcDateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    # Append-only, enforced by the database itself (not only by our code).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("""CREATE TRIGGER complaint_log_no_delete BEFORE DELETE ON complaint_log
            BEGIN SELECT RAISE(ABORT, 'complaint_log is append-only'); END""")
        op.execute(f"""CREATE TRIGGER complaint_log_no_update BEFORE UPDATE OF {FROZEN} ON complaint_log
            BEGIN SELECT RAISE(ABORT, 'complaint_log is append-only'); END""")
    else:
        op.execute("""CREATE FUNCTION complaint_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'complaint_log is append-only'; END $$""")
        op.execute("""CREATE TRIGGER complaint_log_no_delete BEFORE DELETE ON complaint_log
            FOR EACH ROW EXECUTE FUNCTION complaint_log_append_only()""")
        op.execute(f"""CREATE TRIGGER complaint_log_no_update BEFORE UPDATE OF {FROZEN} ON complaint_log
            FOR EACH ROW EXECUTE FUNCTION complaint_log_append_only()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS complaint_log_no_delete" + ("" if op.get_bind().dialect.name == "sqlite" else " ON complaint_log"))
    op.execute("DROP TRIGGER IF EXISTS complaint_log_no_update" + ("" if op.get_bind().dialect.name == "sqlite" else " ON complaint_log"))
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS complaint_log_append_only()")
    for table in ("data_requests", "staff_sessions", "history_archive"):
        op.drop_table(table)
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("anonymised_at")
    with op.batch_alter_table("complaint_log") as batch:
        for column in ("redacted_at", "hash", "prev_hash", "detail_digest"):
            batch.drop_column(column)
