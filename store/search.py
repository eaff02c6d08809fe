"""Text search over complaints (subject, body, customer) that uses an index on both databases
and ignores case and diacritics (domain/search_text.py's ``fold``: "tran van binh" finds
"Trần Văn Bình"). SQLite keeps an FTS5 trigram table of folded documents beside the complaints
(migrations 0003, 0005 and 0007, with their triggers), its rowids in received order;
PostgreSQL stores the folded document in a generated column (migrations 0005 and 0007) with a
pg_trgm GIN index. The query is folded in Python and matched against those documents."""

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, column, false, literal_column, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ids import is_complaint_id
from domain.search_text import fold
from store.tables import LISTED, Complaint

# The document, as SQL; migrations index exactly these expressions.
DOCUMENT_PARTS = (
    "subject || ' ' || body || ' ' || customer_name || ' ' || coalesce(customer_email, '') || ' ' || "
    "coalesce(customer_phone, '')"
)
# PostgreSQL's lower-cased document before migration 0007 (migrations 0003 and 0005 use it).
DOCUMENT_SQL = f"lower({DOCUMENT_PARTS})"
# Since migration 0007 both databases index the folded document. On SQLite FOLD is ``fold``
# itself, registered on every connection by store/engine.py (the triggers call it); on
# PostgreSQL an IMMUTABLE SQL function over unaccent and lower (created by the migration).
FOLD = "search_fold"
FOLDED_DOCUMENT_SQL = f"{FOLD}({DOCUMENT_PARTS})"
POSTGRES_DOCUMENT = literal_column("complaints.search_document", String)  # not mapped: never loaded
FTS_TABLE = table("complaints_search", column("rowid"), column("id"), column("document"))
# An FTS rowid is the received second shifted left by SLOT_BITS, plus a slot within that second.
SLOT_BITS = 24
SLOTS = 1 << SLOT_BITS
TRIGRAM = 3  # the shortest query the trigram index can match


def rowid_bucket(received_at_sql: str) -> str:
    """The first FTS rowid of the second a complaint was received in, as SQL (for the triggers)."""
    return f"(CAST(strftime('%s', {received_at_sql}) AS INTEGER) << {SLOT_BITS})"


def _bucket(at: datetime) -> int:
    return math.floor(at.timestamp()) << SLOT_BITS


def _phrase(query: str) -> Any:
    """The folded ``query`` as one quoted FTS5 phrase."""
    return text("complaints_search MATCH :phrase").bindparams(phrase='"' + fold(query).replace('"', '""') + '"')


def _contains(query: str) -> str:
    """A LIKE pattern (escape character ``\\``) for the folded ``query`` anywhere, its own % and _ literal."""
    return "%" + fold(query).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def matches(dialect: str, query: str) -> ColumnElement[bool]:
    """Complaints whose document contains ``query`` (any case, any diacritics), or whose id is ``query``."""
    if "\x00" in query:  # no text holds a NUL (PostgreSQL refuses one, FTS5 ends the phrase there)
        return false()
    if dialect == "sqlite":
        # A quoted FTS5 phrase, matched through the trigram index. Trigrams need three
        # characters; shorter queries use LIKE on the (folded, so ASCII-case-free) documents.
        if in_received_order(dialect, query):
            where = _phrase(query)
        else:
            where = FTS_TABLE.c.document.like(_contains(query), escape="\\")
        found = Complaint.id.in_(select(FTS_TABLE.c.id).where(where))
    else:
        found = POSTGRES_DOCUMENT.like(_contains(query), escape="\\")
    return or_(found, Complaint.id == query.upper()) if is_complaint_id(query.upper()) else found


def in_received_order(dialect: str, query: str) -> bool:
    """Whether ``newest_matches`` serves this search: SQLite's trigram index, walked newest first.
    The folded length counts: a decomposed "á" is two characters, folded one."""
    return dialect == "sqlite" and len(fold(query)) >= TRIGRAM and "\x00" not in query


async def newest_matches(
    session: AsyncSession,
    query: str,
    conditions: Sequence[ColumnElement[bool]],
    n: int,
    newest: datetime | None = None,
    oldest: datetime | None = None,
) -> list[Complaint]:
    """The ``n`` first complaints in list order (received_at, id, both descending) that match
    ``query`` as ``matches`` does and meet ``conditions``, loaded as ``LISTED``;
    ``newest``/``oldest`` bound the received times the conditions allow, so the walk starts and
    stops near them.

    The index is walked newest second first and stops after a page, so a common phrase costs a
    page, not one row per match. Within one second the slots follow insertion, not id: when the
    page ends inside a second that has more matches, that second is read whole, and the page is
    re-sorted in list order."""
    where = [_phrase(query), *conditions]
    if newest is not None:  # a second either side: strftime and Python agree, by a margin
        where.append(FTS_TABLE.c.rowid < _bucket(newest) + 2 * SLOTS)
    if oldest is not None:
        where.append(FTS_TABLE.c.rowid >= _bucket(oldest) - SLOTS)
    walk = (
        select(Complaint, FTS_TABLE.c.rowid)
        .join_from(FTS_TABLE, Complaint, Complaint.id == FTS_TABLE.c.id)
        .options(LISTED)
        .where(*where)
    )
    # One past the page tells whether the page's last second goes on beyond it.
    found = (await session.execute(walk.order_by(FTS_TABLE.c.rowid.desc()).limit(n + 1))).all()
    rows = {row.id: row for row, _ in found[:n]}
    if len(found) > n and found[n][1] >> SLOT_BITS == found[n - 1][1] >> SLOT_BITS:
        second = found[n - 1][1] >> SLOT_BITS << SLOT_BITS
        rest = await session.execute(walk.where(FTS_TABLE.c.rowid.between(second, second + SLOTS - 1)))
        rows.update((row.id, row) for row, _ in rest.all())
    if is_complaint_id(query.upper()):
        named = select(Complaint).options(LISTED).where(Complaint.id == query.upper(), *conditions)
        rows.update((row.id, row) for row in (await session.scalars(named)).all())
    return sorted(rows.values(), key=lambda row: (row.received_at, row.id), reverse=True)[:n]
