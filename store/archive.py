"""Archived workflow histories: written once per complaint, read when Temporal no longer has it."""

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.projection import dialect_insert
from store.tables import HistoryArchive


async def save_archive(
    session: AsyncSession,
    *,
    complaint_id: str,
    run_id: str,
    closed_at: datetime | None,
    archived_at: datetime,
    event_count: int,
    history_json: str,
) -> bool:
    """Keep the history once per run; another run under the same complaint id replaces it."""
    values = {
        "complaint_id": complaint_id,
        "run_id": run_id,
        "closed_at": closed_at,
        "archived_at": archived_at,
        "event_count": event_count,
        "sha256": hashlib.sha256(history_json.encode()).hexdigest(),
        "history_json": history_json,
    }
    stmt = dialect_insert(session, HistoryArchive).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[HistoryArchive.complaint_id],
        set_={k: stmt.excluded[k] for k in values if k != "complaint_id"},
        where=HistoryArchive.run_id != stmt.excluded.run_id,
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def load_archive(session: AsyncSession, complaint_id: str) -> HistoryArchive | None:
    return await session.get(HistoryArchive, complaint_id)


async def archived_runs(session: AsyncSession, complaint_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(complaint id, run id) pairs already archived, among ``complaint_ids``."""
    ids = list(complaint_ids)
    if not ids:
        return set()
    rows = await session.execute(
        select(HistoryArchive.complaint_id, HistoryArchive.run_id).where(HistoryArchive.complaint_id.in_(ids))
    )
    return {(cid, run) for cid, run in rows.all()}


def verify_digest(archive: HistoryArchive) -> bool:
    return hashlib.sha256(archive.history_json.encode()).hexdigest() == archive.sha256
