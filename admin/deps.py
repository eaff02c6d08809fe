"""Typed FastAPI dependencies: the database session, the Temporal client, the current user."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.complaints_service import ComplaintService, User
from admin.errors import ServiceError
from admin.security import SESSION_COOKIE, Session, hash_token
from admin.sign_in import session_valid, utcnow
from config.settings import Settings
from store.tables import Staff


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


def browser_session(request: Request) -> Session | None:
    session: Session | None = request.app.state.signer.load(request.cookies.get(SESSION_COOKIE))
    return session


async def optional_user(request: Request, session: SessionDep) -> User | None:
    """The user of a bearer token or of the session cookie, if any."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        staff = await session.scalar(select(Staff).where(Staff.token_hash == hash_token(token), Staff.active))
        if staff is None:
            raise ServiceError(401, "unauthorized", "invalid or revoked API token")
        return User.of(staff)
    cookie = browser_session(request)
    if cookie is None or not await session_valid(session, cookie, utcnow()):
        return None
    staff = await session.scalar(select(Staff).where(Staff.username == cookie.username, Staff.active))
    return User.of(staff) if staff else None


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise ServiceError(401, "unauthorized", "log in or send a bearer token")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def get_service(request: Request, session: SessionDep, settings: SettingsDep) -> ComplaintService:
    return ComplaintService(session, request.app.state.temporal, settings)


ServiceDep = Annotated[ComplaintService, Depends(get_service)]
