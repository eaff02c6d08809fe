"""``HistoryArchiveWorkflow``: started by a complaint's workflow as its last act (abandoned by
it), waits for that run to close and archives its full history into the store, retrying
for as long as the store or the server is unavailable."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.steps import ARCHIVE_WORKFLOW, Activity, ArchiveRequest

ARCHIVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["HistoryGone"],
)


@workflow.defn(name=ARCHIVE_WORKFLOW)
class HistoryArchiveWorkflow:
    @workflow.run
    async def run(self, request: ArchiveRequest) -> bool:
        archived: bool = await workflow.execute_activity(
            Activity.ARCHIVE_HISTORY.value,
            request,
            result_type=bool,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=ARCHIVE_RETRY,
        )
        return archived
