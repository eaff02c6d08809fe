"""Signing in: revocable browser sessions and API token revocation, kept in the store (so they
hold across restarts and admin replicas). Failed logins are slowed down per (user, address) and
per address by ``admin.security.LoginThrottle``; no account is ever locked (a lock anyone can
aim at a known name is a denial of service)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from admin.security import SESSION_MAX_AGE, Session, session_id_hash
from store.tables import Staff, StaffSession


async def open_session(db: AsyncSession, session: Session, now: datetime) -> None:
    db.add(
        StaffSession(
            id_hash=session_id_hash(session.sid),
            username=session.username,
            created_at=now,
            expires_at=now + timedelta(seconds=SESSION_MAX_AGE),
        )
    )


async def session_valid(db: AsyncSession, session: Session, now: datetime) -> bool:
    row = await db.get(StaffSession, session_id_hash(session.sid))
    return row is not None and row.username == session.username and row.revoked_at is None and row.expires_at > now


async def close_session(db: AsyncSession, session: Session, now: datetime) -> None:
    await db.execute(
        update(StaffSession)
        .where(StaffSession.id_hash == session_id_hash(session.sid), StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_sessions(db: AsyncSession, username: str, now: datetime) -> int:
    """Every open session of ``username`` (password reset, deactivation, an administrator's call)."""
    result = await db.execute(
        update(StaffSession)
        .where(StaffSession.username == username, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def revoke_token(db: AsyncSession, username: str) -> bool:
    staff = await db.scalar(select(Staff).where(Staff.username == username))
    if staff is None or staff.token_hash is None:
        return False
    staff.token_hash = None
    return True


def utcnow() -> datetime:
    return datetime.now(UTC)
