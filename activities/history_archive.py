"""Archiving a complaint's workflow history into the store once the workflow has closed."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.steps import Activity, ArchiveRequest
from store.archive import save_archive
from store.engine import transaction


async def archive_run(client: Client, sessions: async_sessionmaker[AsyncSession], request: ArchiveRequest) -> bool:
    """Store the run's full history as Temporal exports it (payloads stay encrypted).

    Raises a retryable error while the run is still open: the archive is of the whole
    history, completion event included.
    """
    handle = client.get_workflow_handle(request.complaint_id, run_id=request.run_id)
    try:
        described = await handle.describe()
        if described.status in (None, WorkflowExecutionStatus.RUNNING):
            raise ApplicationError(f"{request.complaint_id} is still running", type="NotClosedYet")
        history = await handle.fetch_history()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise ApplicationError(
                f"{request.complaint_id} run {request.run_id} is gone from Temporal", type="HistoryGone",
                non_retryable=True,
            ) from exc
        raise
    async with transaction(sessions) as session:
        return await save_archive(
            session,
            complaint_id=request.complaint_id,
            run_id=request.run_id,
            closed_at=described.close_time,
            archived_at=datetime.now(UTC),
            event_count=len(history.events),
            history_json=history.to_json(),
        )


class HistoryArchiveActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=Activity.ARCHIVE_HISTORY.value)
    async def archive_history(self, request: ArchiveRequest) -> bool:
        return await archive_run(activity.client(), self._sessions, request)
