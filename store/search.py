"""Text search over complaints (subject, body, customer) that uses an index on both databases:
SQLite keeps an FTS5 trigram table beside the complaints (migration 0003 and its triggers);
PostgreSQL has a pg_trgm GIN index on the same lower-cased document expression."""

from typing import Any

from sqlalchemy import ColumnElement, column, func, or_, select, table, text

from store.tables import Complaint

# The document, as SQL; migration 0003 indexes exactly this expression.
DOCUMENT_PARTS = (
    "subject || ' ' || body || ' ' || customer_name || ' ' || coalesce(customer_email, '') || ' ' || "
    "coalesce(customer_phone, '')"
)
# PostgreSQL's lower() folds all of Unicode; SQLite's folds ASCII only, so there the FTS5
# trigram tokenizer (case-insensitive, Unicode-aware) does the folding on the raw document.
DOCUMENT_SQL = f"lower({DOCUMENT_PARTS})"
FTS_TABLE = table("complaints_search", column("id"), column("document"))


def _document() -> ColumnElement[str]:
    parts: Any = (
        Complaint.subject + " " + Complaint.body + " " + Complaint.customer_name + " "
        + func.coalesce(Complaint.customer_email, "") + " " + func.coalesce(Complaint.customer_phone, "")
    )  # fmt: skip
    return func.lower(parts)


def matches(dialect: str, query: str) -> ColumnElement[bool]:
    """Complaints whose document contains ``query`` (any case), or whose id is ``query``."""
    like = f"%{query.lower()}%"
    if dialect == "sqlite":
        # A quoted FTS5 phrase: matched through the trigram index and folded for all of Unicode
        # (LIKE folds ASCII only). Trigrams need three characters; shorter queries use LIKE.
        where = (
            text("complaints_search MATCH :phrase").bindparams(phrase='"' + query.replace('"', '""') + '"')
            if len(query) >= 3
            else FTS_TABLE.c.document.like(like)
        )
        found = Complaint.id.in_(select(FTS_TABLE.c.id).where(where))
    else:
        found = _document().like(like)
    return or_(found, Complaint.id == query.upper())
