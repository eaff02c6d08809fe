"""Search without diacritics: both databases index the folded document (domain/search_text.py),
so "tran van binh" finds "Trần Văn Bình" and "dien thoai" finds "điện thoại".

SQLite 3.40 has no FTS5 `remove_diacritics` for trigrams (3.45+), so the triggers store the
document through `search_fold`, the Python fold registered on every connection (store/engine.py).
The FTS table keeps migration 0005's rowids in received order; existing rows are re-indexed.

PostgreSQL: `search_fold` is lower(unaccent(...)) behind an IMMUTABLE SQL function (unaccent
is only STABLE: it reads its dictionary), so the stored generated column, re-computed for every
row, holds the folded document and the pg_trgm index covers it.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

from store.search import DOCUMENT_PARTS, DOCUMENT_SQL, FOLD, FOLDED_DOCUMENT_SQL, SLOT_BITS, rowid_bucket

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED = ("subject", "body", "customer_name", "customer_email", "customer_phone")


def _of(row: str, document: str) -> str:
    for name in SEARCHED:
        document = document.replace(name, f"{row}.{name}")
    return document


def _row_of(row: str) -> str:
    low = rowid_bucket(f"{row}.received_at")
    return f"rowid BETWEEN {low} AND {low} + {(1 << SLOT_BITS) - 1} AND id = {row}.id"


def _insert(row: str, document: str) -> str:
    low = rowid_bucket(f"{row}.received_at")
    return f"""INSERT INTO complaints_search (rowid, id, document) VALUES (
        (SELECT coalesce(max(rowid) + 1, {low}) FROM complaints_search
         WHERE rowid BETWEEN {low} AND {low} + {(1 << SLOT_BITS) - 1}),
        {row}.id, {_of(row, document)});"""


def _sqlite_index(document: str) -> None:
    """Migration 0005's FTS table and triggers, indexing ``document``; every stored row re-indexed."""
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER complaints_search_{trigger}")
    op.execute("DROP TABLE complaints_search")
    op.execute("CREATE VIRTUAL TABLE complaints_search USING fts5(id UNINDEXED, document, tokenize='trigram')")
    op.execute(f"CREATE TRIGGER complaints_search_insert AFTER INSERT ON complaints BEGIN {_insert('new', document)} END")
    changed = " OR ".join(f"old.{name} IS NOT new.{name}" for name in (*SEARCHED, "received_at"))
    op.execute(f"""CREATE TRIGGER complaints_search_update AFTER UPDATE ON complaints WHEN {changed} BEGIN
        DELETE FROM complaints_search WHERE {_row_of('old')}; {_insert('new', document)} END""")
    op.execute(f"""CREATE TRIGGER complaints_search_delete AFTER DELETE ON complaints BEGIN
        DELETE FROM complaints_search WHERE {_row_of('old')}; END""")
    second = "strftime('%s', received_at)"
    op.execute(f"""INSERT INTO complaints_search (rowid, id, document)
        SELECT {rowid_bucket('received_at')} + row_number() OVER (PARTITION BY {second} ORDER BY id) - 1,
               id, {document} FROM complaints""")


def _postgres_document(expression: str) -> None:
    """The generated column re-defined as ``expression`` (PostgreSQL 15 cannot alter one in place:
    dropped and added, which computes it for every row) and its trigram index rebuilt."""
    op.execute("DROP INDEX ix_complaints_search")
    op.execute("ALTER TABLE complaints DROP COLUMN search_document")
    op.execute(f"ALTER TABLE complaints ADD COLUMN search_document text GENERATED ALWAYS AS ({expression}) STORED")
    op.execute("CREATE INDEX ix_complaints_search ON complaints USING gin (search_document gin_trgm_ops)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_index(FOLDED_DOCUMENT_SQL)
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    # Qualified by the extension's schema, so the function does not depend on the search_path
    # of whoever writes a complaint (or restores a dump).
    schema = op.get_bind().exec_driver_sql("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'unaccent'")
    unaccent = f"{schema.scalar_one()}.unaccent"
    op.execute(f"""CREATE FUNCTION {FOLD}(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT lower({unaccent}('{unaccent}'::regdictionary, $1)) $$""")
    _postgres_document(FOLDED_DOCUMENT_SQL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_index(DOCUMENT_PARTS)
        return
    _postgres_document(DOCUMENT_SQL)
    # The unaccent extension stays: other objects may use it, and it changes nothing by itself.
    op.execute(f"DROP FUNCTION {FOLD}(text)")
