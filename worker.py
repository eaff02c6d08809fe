"""Runs the Temporal worker for complaints: ``python worker.py``.

SIGINT/SIGTERM stop polling and let running activities finish (graceful shutdown), so a
deploy or a Ctrl-C never cuts a step in half; a crash is covered by Temporal's retries.
"""

import asyncio
import logging
import signal
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.complaint_steps import ComplaintActivities
from activities.history_archive import HistoryArchiveActivities
from activities.mailbox import MailboxActivities
from activities.status_link import StatusLinkActivities
from config.settings import Settings, get_settings, private_umask
from intake.mailbox_poll import start_mailbox_poll
from ops.archive_sweep import sweep
from ops.attachment_sweep import sweep_attachments
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from temporal_client.connection import connect
from workflows.complaint import ComplaintWorkflow
from workflows.history_archive import HistoryArchiveWorkflow
from workflows.job_order import JobsInOrderRunner
from workflows.mailbox_poll import MailboxPollWorkflow
from workflows.status_link import StatusLinkWorkflow

log = logging.getLogger("worker")

# Our pure modules and pydantic are deterministic: pass them through rather than re-import
# them in every workflow sandbox (faster, and one copy of the pydantic classes). Replay tests
# run the recorded histories under this strict sandbox, which still re-imports the workflows.
PURE_MODULES = ("domain", "pydantic", "pydantic_core", "email_validator", "idna", "annotated_types")
# Both feed the complaint workflow its jobs one at a time, updates last (workflows/job_order.py).
IN_ORDER = (ComplaintWorkflow.__name__,)
STRICT_SANDBOX = JobsInOrderRunner(
    SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PURE_MODULES)),
    IN_ORDER,
)
# The worker also passes the workflow modules through: re-importing them (and re-running
# @workflow.defn over the transition table's handlers) for every complaint it takes into its
# cache cost more CPU than the rest of that complaint's workflow code. The sandbox still
# checks every other module they touch; the strict one above is kept for the replay tests.
SANDBOX = JobsInOrderRunner(
    SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PURE_MODULES, "workflows")
    ),
    IN_ORDER,
)


def build_worker(
    client: Client, settings: Settings, activities: ComplaintActivities, mailbox: MailboxActivities | None = None
) -> Worker:
    mailbox = mailbox or MailboxActivities(activities.sessions, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ComplaintWorkflow, HistoryArchiveWorkflow, MailboxPollWorkflow, StatusLinkWorkflow],
        activities=[
            *activities.all(),
            HistoryArchiveActivities(activities.sessions).archive_history,
            *mailbox.all(),
            *StatusLinkActivities(activities.sessions, settings).all(),
        ],
        workflow_runner=SANDBOX,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_cached_workflows=settings.max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=settings.sticky_queue_timeout,
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


async def archive_sweeper(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """The catch-up for histories the completion path missed (e.g. runs that closed before
    archiving existed, or were terminated); idempotent, so every worker replica may run it."""
    while True:
        try:
            result = await sweep(client, sessions, settings.task_queue)
            if result.archived or result.failed:
                log.info("Archive sweep: %d archived, %d failed, %d closed runs", result.archived, result.failed,
                         result.closed)  # fmt: skip
        except Exception:  # the next round tries again; the sweeper must not take the worker down
            log.exception("Archive sweep failed")
        await asyncio.sleep(settings.archive_sweep_interval.total_seconds())


async def attachment_sweeper(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Removes attachment files no message references once past the grace (ops.attachment_sweep);
    idempotent and safe beside another replica's sweep of the same shared folder."""
    while True:
        try:
            await sweep_attachments(
                settings.effective_attachment_dir, sessions, settings.attachment_sweep_grace, client=client
            )
        except Exception:  # the next round tries again; the sweeper must not take the worker down
            log.exception("Attachment sweep failed")
        await asyncio.sleep(settings.attachment_sweep_interval.total_seconds())


async def main() -> None:
    private_umask()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    url = settings.effective_database_url
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    client = await connect(settings, sessions)
    mailbox = MailboxActivities(sessions, settings)
    worker = build_worker(client, settings, ComplaintActivities(sessions, settings), mailbox)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "Worker polling %s on %s (namespace %s)",
        settings.task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
    )
    async with worker:
        sweeper = asyncio.create_task(archive_sweeper(client, settings, sessions))
        files_sweeper = asyncio.create_task(attachment_sweeper(client, settings, sessions))
        if await start_mailbox_poll(client, settings) is not None:
            log.info("Polling the mailbox %s/%s", settings.imap_host, settings.imap_folder)
        await stop.wait()
        sweeper.cancel()
        files_sweeper.cancel()
        log.info("Shutting down: finishing running activities")
    await mailbox.close()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
