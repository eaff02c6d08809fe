"""The mail intake's record in the store: one row per intake key, and bounces on the outbox."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.projection import dialect_insert
from store.tables import InboundMail, OutboxMail

BOUNCED = "bounced"
MAX_REASON = 60
MAX_BOUNCE_REASON = 1000


@dataclass(frozen=True)
class Taken:
    outcome: str
    complaint_id: str | None
    reason: str


async def taken(session: AsyncSession, intake_key: str) -> Taken | None:
    """What the intake already made of this key, if anything."""
    row = await session.get(InboundMail, intake_key)
    return None if row is None else Taken(row.outcome, row.complaint_id, row.reason)


async def record(
    session: AsyncSession, intake_key: str, *, source: str, outcome: str, complaint_id: str | None, reason: str
) -> Taken:
    """Record the outcome once; a second delivery of the same key keeps the first record (and
    gets it back), so two racing intakes of one message agree on one outcome."""
    stmt = (
        dialect_insert(session, InboundMail)
        .values(
            intake_key=intake_key,
            source=source,
            outcome=outcome,
            complaint_id=complaint_id,
            reason=reason[:MAX_REASON],
            taken_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["intake_key"])
    )
    await session.execute(stmt)
    first = await taken(session, intake_key)
    assert first is not None
    return first


async def mark_bounced(session: AsyncSession, message_id: str, reason: str) -> str | None:
    """Mark our outbox mail ``message_id`` bounced with the reason; its complaint, or None when
    the outbox holds no such mail (a bounce about mail we did not send)."""
    table = cast(Table, OutboxMail.__table__)
    row = (await session.execute(select(table.c.complaint_id).where(table.c.message_id == message_id))).first()
    if row is None:
        return None
    await session.execute(
        update(table)
        .where(table.c.message_id == message_id)
        .values(status=BOUNCED, last_error=reason[:MAX_BOUNCE_REASON] or None)
    )
    return str(row.complaint_id)


async def outcomes(session: AsyncSession, keys: list[str]) -> dict[str, Taken]:
    rows = (await session.scalars(select(InboundMail).where(InboundMail.intake_key.in_(keys)))).all()
    return {r.intake_key: Taken(r.outcome, r.complaint_id, r.reason) for r in rows}
