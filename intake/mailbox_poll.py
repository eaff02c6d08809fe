"""Starting the mailbox poll: one workflow per mailbox, started idempotently (a running one is
left as it is; one that ended, e.g. terminated by an operator, is started afresh)."""

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from config.settings import Settings
from domain.mailbox import MailboxPollInput, mailbox_workflow_id
from domain.steps import MAILBOX_POLL_WORKFLOW


def polling_enabled(settings: Settings) -> bool:
    return bool(settings.imap_host)


def poll_workflow_id(settings: Settings) -> str:
    """The configured mailbox's poll workflow."""
    return mailbox_workflow_id(settings.imap_username, settings.imap_host, settings.imap_folder)


def poll_input(settings: Settings) -> MailboxPollInput:
    return MailboxPollInput(
        mailbox=f"{settings.imap_username}@{settings.imap_host}/{settings.imap_folder}",
        poll_interval=settings.imap_poll_interval,
        batch_size=settings.imap_batch_size,
        polls_per_run=settings.imap_polls_per_run,
        activity_timeout=settings.imap_timeout,
    )


async def start_mailbox_poll(client: Client, settings: Settings) -> WorkflowHandle[object, None] | None:
    """Start the poll of the configured mailbox unless it runs already; None when polling is off."""
    if not polling_enabled(settings):
        return None
    return await client.start_workflow(
        MAILBOX_POLL_WORKFLOW,
        poll_input(settings),
        id=poll_workflow_id(settings),
        task_queue=settings.task_queue,
        task_timeout=settings.workflow_task_timeout,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def stop_mailbox_poll(client: Client, settings: Settings, reason: str) -> None:
    """End the configured mailbox's poll, if it runs (the next start begins afresh)."""
    try:
        await client.get_workflow_handle(poll_workflow_id(settings)).terminate(reason)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
