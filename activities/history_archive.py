"""Archiving a complaint's workflow history into the store once the workflow has closed."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.steps import Activity, ArchiveRequest
from temporal_client.histories import archive_run


class HistoryArchiveActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=Activity.ARCHIVE_HISTORY.value)
    async def archive_history(self, request: ArchiveRequest) -> bool:
        return await archive_run(activity.client(), self._sessions, request)
