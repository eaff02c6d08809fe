"""``MailboxPollWorkflow``: one long-running workflow per mailbox (``mailbox-<user>@<host>/<folder>``).

Each poll: fetch the UIDs above the checkpoint, take each message in (an activity that files
it once by its intake key), advance the checkpoint past it, then flag or move the batch. A full
batch polls again at once; otherwise it sleeps COMPLAINTS_IMAP_POLL_INTERVAL. After
``polls_per_run`` polls (or when Temporal suggests it) it continues as new with the checkpoint,
so its history stays short however long it runs.

The checkpoint (UIDVALIDITY and the last UID taken in) lives in the workflow's state: a worker
killed mid-batch resumes at the message it was taking in, which is filed once because filing
is idempotent by intake key. A new UIDVALIDITY rescans the folder from UID 0; messages already
taken in come back with their recorded outcome and file nothing again.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.mailbox import (
        FetchRequest,
        MailBatch,
        MailboxCheckpoint,
        MailboxPollInput,
        MailboxPollState,
        MarkRequest,
        TakeInRequest,
        TakeInResult,
    )
    from domain.steps import MAILBOX_POLL_WORKFLOW, Activity

# The mailbox, the store or Temporal being down is waited out, however long; a poison message
# is recognised inside the activity (domain.mailbox.POISON_ATTEMPTS) and comes back as such.
IMAP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=1))  # fmt: skip
UIDVALIDITY_CHANGED = "uidvalidity_changed"
POISON = "poison"
GONE = "gone"


@workflow.defn(name=MAILBOX_POLL_WORKFLOW)
class MailboxPollWorkflow:
    def __init__(self) -> None:
        self._mailbox = ""
        self._checkpoint = MailboxCheckpoint()
        self._polls = 0
        self._totals: dict[str, int] = {}

    @workflow.query
    def state(self) -> MailboxPollState:
        return MailboxPollState(
            mailbox=self._mailbox, checkpoint=self._checkpoint, polls=self._polls, totals=dict(self._totals)
        )

    @workflow.run
    async def run(self, start: MailboxPollInput) -> None:
        self._mailbox = start.mailbox
        self._checkpoint = start.checkpoint
        self._totals = dict(start.totals)
        while self._polls < start.polls_per_run and not workflow.info().is_continue_as_new_suggested():
            self._polls += 1
            full = await self._poll(start)
            if not full:
                await workflow.sleep(start.poll_interval)
        workflow.continue_as_new(
            start.model_copy(update={"checkpoint": self._checkpoint, "totals": dict(self._totals)})
        )

    async def _poll(self, start: MailboxPollInput) -> bool:
        """One batch; True when it was full (more may be waiting)."""
        batch: MailBatch = await workflow.execute_activity(
            Activity.MAILBOX_FETCH.value,
            FetchRequest(checkpoint=self._checkpoint, limit=start.batch_size),
            result_type=MailBatch,
            start_to_close_timeout=start.activity_timeout,
            retry_policy=IMAP_RETRY,
        )
        if batch.uidvalidity != self._checkpoint.uidvalidity:
            # Another mailbox under the same name: its UIDs start over (the fetch gave all of them).
            self._checkpoint = MailboxCheckpoint(uidvalidity=batch.uidvalidity, last_uid=0)
        taken: list[int] = []
        failed: list[int] = []
        for uid in batch.uids:
            result: TakeInResult = await workflow.execute_activity(
                Activity.MAILBOX_TAKE_IN.value,
                TakeInRequest(uidvalidity=batch.uidvalidity, uid=uid),
                result_type=TakeInResult,
                start_to_close_timeout=start.activity_timeout,
                retry_policy=IMAP_RETRY,
            )
            if result.outcome == UIDVALIDITY_CHANGED:
                break  # the next fetch sees the new UIDVALIDITY and rescans
            self._totals[result.outcome] = self._totals.get(result.outcome, 0) + 1
            self._checkpoint = MailboxCheckpoint(uidvalidity=batch.uidvalidity, last_uid=uid)
            if result.outcome == POISON:
                failed.append(uid)
            elif result.outcome != GONE:
                taken.append(uid)
        if taken or failed:
            await workflow.execute_activity(
                Activity.MAILBOX_MARK.value,
                MarkRequest(uidvalidity=batch.uidvalidity, taken=taken, failed=failed),
                start_to_close_timeout=start.activity_timeout,
                retry_policy=IMAP_RETRY,
            )
        return len(batch.uids) >= start.batch_size
