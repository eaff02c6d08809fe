"""Bring a database to the latest schema and seed its reference data."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from store.engine import make_engine, make_sessionmaker, transaction
from store.seed import seed_reference_data

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "store" / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str) -> None:
    """Migrate to head (in a thread: Alembic's env runs its own event loop) and seed."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await seed_reference_data(session)
    finally:
        await engine.dispose()
