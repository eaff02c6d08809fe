"""A customer's complaints, found by their normalised phone or e-mail
(``domain.customer_identity``), and the complaints rejected as duplicates of one.

One query per key, each along its own index (ix_complaints_phone_key, ix_complaints_email_key,
migration 0010) in received order; an OR of the two would let the planner walk the whole
received index instead. tests/test_customer_history.py holds the plans to that."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.customer_identity import email_key, phone_key
from store.tables import LISTED, Complaint

HISTORY_LIMIT = 50


def by_key(
    column: str, key: str, conditions: Sequence[ColumnElement[bool]], limit: int = HISTORY_LIMIT
) -> Select[Complaint]:
    """Complaints whose ``column`` (customer_phone_key or customer_email_key) is ``key``, newest first."""
    return (
        select(Complaint)
        .options(LISTED)
        .where(getattr(Complaint, column) == key, *conditions)
        .order_by(Complaint.received_at.desc(), Complaint.id.desc())
        .limit(limit)
    )


async def customer_complaints(
    session: AsyncSession,
    phone: str | None,
    email: str | None,
    conditions: Sequence[ColumnElement[bool]],
    limit: int = HISTORY_LIMIT,
) -> list[Complaint]:
    """The complaints of the customer with this phone or e-mail (either matching), newest first."""
    found: dict[str, Complaint] = {}
    for column, key in (("customer_phone_key", phone_key(phone)), ("customer_email_key", email_key(email))):
        if key is not None:
            for row in await session.scalars(by_key(column, key, conditions, limit)):
                found[row.id] = row
    newest = sorted(found.values(), key=lambda r: (r.received_at, r.id), reverse=True)
    return newest[:limit]


def duplicates_of(complaint_id: str, conditions: Sequence[ColumnElement[bool]]) -> Select[Complaint]:
    """The complaints rejected as duplicates of ``complaint_id``, newest first."""
    return (
        select(Complaint)
        .options(LISTED)
        .where(Complaint.duplicate_of == complaint_id, *conditions)
        .order_by(Complaint.received_at.desc(), Complaint.id.desc())
        .limit(HISTORY_LIMIT)
    )
