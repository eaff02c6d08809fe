"""Indexed text search: an FTS5 trigram table on SQLite, a pg_trgm GIN index on PostgreSQL.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

from store.search import DOCUMENT_PARTS, DOCUMENT_SQL

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_DOCUMENT = DOCUMENT_PARTS.replace("subject", "new.subject").replace("body", "new.body").replace(
    "customer_name", "new.customer_name").replace("customer_email", "new.customer_email").replace(
    "customer_phone", "new.customer_phone")  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE complaints_search USING fts5(id UNINDEXED, document, tokenize='trigram')")
        op.execute(f"""CREATE TRIGGER complaints_search_insert AFTER INSERT ON complaints BEGIN
            INSERT INTO complaints_search (id, document) VALUES (new.id, {SQLITE_DOCUMENT}); END""")
        op.execute(f"""CREATE TRIGGER complaints_search_update AFTER UPDATE ON complaints BEGIN
            DELETE FROM complaints_search WHERE id = old.id;
            INSERT INTO complaints_search (id, document) VALUES (new.id, {SQLITE_DOCUMENT}); END""")
        op.execute("""CREATE TRIGGER complaints_search_delete AFTER DELETE ON complaints BEGIN
            DELETE FROM complaints_search WHERE id = old.id; END""")
        op.execute(f"INSERT INTO complaints_search (id, document) SELECT id, {DOCUMENT_PARTS} FROM complaints")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_complaints_search ON complaints USING gin (({DOCUMENT_SQL}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER complaints_search_{trigger}")
        op.execute("DROP TABLE complaints_search")
    else:
        op.execute("DROP INDEX ix_complaints_search")
