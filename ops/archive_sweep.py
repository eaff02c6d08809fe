"""Catch-up: archive every closed complaint run whose history is not in the store yet."""

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from domain.steps import COMPLAINT_WORKFLOW, ArchiveRequest
from store.archive import archived_runs
from temporal_client.histories import archive_run

log = logging.getLogger("archive")


def closed_runs_query(task_queue: str) -> str:
    # This deployment's task queue only: a namespace may host several (tests, staging).
    return f"WorkflowType = '{COMPLAINT_WORKFLOW}' AND TaskQueue = '{task_queue}' AND ExecutionStatus != 'Running'"


BATCH = 200


@dataclass
class SweepResult:
    closed: int = 0
    archived: int = 0
    failed: int = 0


async def sweep(client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str) -> SweepResult:
    result = SweepResult()
    batch: list[ArchiveRequest] = []

    async def flush() -> None:
        async with sessions() as session:
            done = await archived_runs(session, [r.complaint_id for r in batch])
        for request in batch:
            if (request.complaint_id, request.run_id) in done:
                continue
            try:
                if await archive_run(client, sessions, request):
                    result.archived += 1
            except ApplicationError as exc:  # gone meanwhile, or (rarely) still closing
                result.failed += 1
                log.warning("Not archived %s: %s", request.complaint_id, exc)
        batch.clear()

    async for execution in client.list_workflows(closed_runs_query(task_queue), page_size=BATCH):
        result.closed += 1
        batch.append(ArchiveRequest(complaint_id=execution.id, run_id=execution.run_id))
        if len(batch) >= BATCH:
            await flush()
    await flush()
    return result
