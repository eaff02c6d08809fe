"""A throwaway PostgreSQL database on the cluster `make test` starts (python -m localstack.postgres)."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from store.engine import make_engine

POSTGRES_ENV = "COMPLAINTS_TEST_POSTGRES_URL"


@asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped on exit; fails the test when no cluster is set."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.fail(f"{POSTGRES_ENV} is not set: run through `make test` (python -m localstack.postgres)")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    try:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"CREATE DATABASE {name}"))
        yield base.rsplit("/", 1)[0] + f"/{name}"
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


@asynccontextmanager
async def empty_store(kind: str, directory: Path, prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty store of ``kind`` ("sqlite" in ``directory``, or "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'complaints.db'}"
        return
    async with scratch_database(prefix) as url:
        yield url


async def insert_as_stored(conn: AsyncConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` as the store's schema stands now (reflected), leaving out
    the columns a later migration adds: how a test fills a store migrated only part of the way."""
    reflected = await conn.run_sync(lambda sync: Table(table, MetaData(), autoload_with=sync))
    names = set(reflected.c.keys())
    await conn.execute(reflected.insert(), [{k: v for k, v in row.items() if k in names} for row in rows])
