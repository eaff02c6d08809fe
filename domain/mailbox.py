"""The mailbox poll's contract: what its workflow keeps (the checkpoint) and what it hands its
activities. One long-running workflow per mailbox, id ``mailbox-<user>@<host>/<folder>``."""

from datetime import timedelta

from pydantic import BaseModel, Field

# Why a message counts as poison: it failed this many times for a reason other than the
# mailbox, the store or Temporal being unavailable (those are retried for as long as they last).
POISON_ATTEMPTS = 3


def mailbox_workflow_id(username: str, host: str, folder: str) -> str:
    return f"mailbox-{username}@{host}/{folder}"


class MailboxCheckpoint(BaseModel):
    """UIDs are only meaningful within one UIDVALIDITY: a new one means a rescan from 0."""

    uidvalidity: int | None = None
    last_uid: int = 0


class MailboxPollInput(BaseModel):
    mailbox: str  # user@host/folder, for people reading the UI; the worker's settings connect
    checkpoint: MailboxCheckpoint = Field(default_factory=MailboxCheckpoint)
    poll_interval: timedelta
    batch_size: int = Field(50, gt=0)
    polls_per_run: int = Field(100, gt=0)  # continue as new after this many polls
    activity_timeout: timedelta = timedelta(minutes=2)
    # Outcomes counted over the mailbox's life (carried across runs): the "state" query shows them.
    totals: dict[str, int] = Field(default_factory=dict)


class FetchRequest(BaseModel):
    checkpoint: MailboxCheckpoint
    limit: int


class MailBatch(BaseModel):
    uidvalidity: int
    uids: list[int]  # ascending, above the checkpoint (all of them after a UIDVALIDITY change)


class TakeInRequest(BaseModel):
    uidvalidity: int
    uid: int


class TakeInResult(BaseModel):
    uid: int
    outcome: str  # intake.mail_intake.Outcome, "gone" (expunged meanwhile) or "uidvalidity_changed"
    intake_key: str | None = None
    complaint_id: str | None = None


class MarkRequest(BaseModel):
    uidvalidity: int
    taken: list[int] = Field(default_factory=list)  # flagged or moved as configured
    failed: list[int] = Field(default_factory=list)  # poison: flagged as failed, left in place


class MailboxPollState(BaseModel):
    mailbox: str
    checkpoint: MailboxCheckpoint
    polls: int
    totals: dict[str, int]
