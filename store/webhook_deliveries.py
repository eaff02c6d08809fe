"""Replay protection for signed webhooks: each signature is claimed once (an insert that a second
claim of the same signature cannot repeat, so two replays racing each other are one claim)."""

import hashlib
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from store.projection import dialect_insert
from store.tables import WebhookDelivery


def _hash(signature: str) -> str:
    return hashlib.sha256(signature.encode("utf-8", errors="replace")).hexdigest()


async def claim(session: AsyncSession, signature: str, now: datetime, keep: timedelta) -> bool:
    """True if ``signature`` was not seen yet (it is now); False for a replay. Forgets the claims
    older than ``keep``: their timestamps are refused anyway."""
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.seen_at < now - keep))
    inserted = cast(
        CursorResult[Any],
        await session.execute(
            dialect_insert(session, WebhookDelivery)
            .values(signature_hash=_hash(signature), seen_at=now)
            .on_conflict_do_nothing(index_elements=["signature_hash"])
        ),
    )
    await session.commit()
    return inserted.rowcount == 1


async def release(session: AsyncSession, signature: str) -> None:
    """Forget a claim whose request was not carried out (the workflow service was down), so the
    sender's retry of the very same request is taken."""
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.signature_hash == _hash(signature)))
    await session.commit()
