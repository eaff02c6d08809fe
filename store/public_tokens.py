"""Links to a complaint's public status page: the store holds SHA-256 hashes of their tokens,
never the tokens, and a presented token is compared in constant time with each live hash of
that complaint (issue 14)."""

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from store.projection import dialect_insert
from store.tables import PublicToken

MAIL, FORM = "mail", "form"  # the token was sent in a customer mail / shown after the web form
LOOKUP = "lookup"  # mailed again on the customer's request (the public lookup page)
TOKEN_BYTES = 32  # 256 bits: unguessable, and too many to try


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


async def keep(session: AsyncSession, complaint_id: str, token: str, purpose: str, now: datetime) -> None:
    """Store ``token``'s hash for the complaint (the same token twice: kept once)."""
    stmt = dialect_insert(session, PublicToken.__table__).values(
        complaint_id=complaint_id, token_hash=token_hash(token), purpose=purpose, created_at=now
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["token_hash"]))


async def valid(session: AsyncSession, complaint_id: str, token: str) -> bool:
    """Whether ``token`` is a live link to ``complaint_id``. Every live hash of the complaint is
    compared (constant time each), so the answer's timing says nothing about the token."""
    presented = token_hash(token)
    hashes = await session.scalars(
        select(PublicToken.token_hash).where(PublicToken.complaint_id == complaint_id, PublicToken.revoked_at.is_(None))
    )
    found = False
    for stored in hashes:
        found |= hmac.compare_digest(stored, presented)
    return found


async def live_count(session: AsyncSession, complaint_id: str) -> int:
    rows = await session.scalars(
        select(PublicToken.id).where(PublicToken.complaint_id == complaint_id, PublicToken.revoked_at.is_(None))
    )
    return len(list(rows))


async def revoke(session: AsyncSession, complaint_id: str, by: str, now: datetime) -> int:
    """Every live link of the complaint stops working; the number revoked."""
    result = await session.execute(
        update(PublicToken)
        .where(PublicToken.complaint_id == complaint_id, PublicToken.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by)
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)
