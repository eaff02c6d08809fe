"""Async engine and session factory for SQLite (default) or PostgreSQL."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from domain.search_text import fold
from store.search import FOLD


def make_engine(url: str) -> AsyncEngine:
    # hide_parameters: errors are logged with their message, which would otherwise hold the
    # statement's parameters: a search's text, a customer's name or e-mail.
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
            # database file's mode, and would create it 0644 under the usual umask. Never open an
            # existing one: closing any descriptor of a file drops this process's SQLite locks on it.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the admin read while the worker writes; FKs are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # The search triggers fold every document they index (migration 0007): a
            # connection without this function cannot write a complaint.
            dbapi_conn.create_function(FOLD, 1, _fold_or_null, deterministic=True)

        return engine
    # Plan every statement for its own parameters: a search's best plan depends on the text (a
    # phone number matches one row, a common word thousands), and a generic plan PostgreSQL
    # settled on while the table was small stays after it grows: measured 2 ms → 360 ms for one
    # phone number at 100,000 complaints. Planning costs a fraction of a millisecond.
    server_settings = {"plan_cache_mode": "force_custom_plan"}
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"server_settings": server_settings},
        hide_parameters=True,
    )


def _fold_or_null(text: str | None) -> str | None:
    return None if text is None else fold(text)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session, session.begin():
        yield session
