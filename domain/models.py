"""Pydantic models of the complaint process: intake, actors, decision payloads and the state view."""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from domain.sla import SlaPolicy
from domain.vocabulary import (
    Category,
    Channel,
    Language,
    Outcome,
    Priority,
    ReplyMethod,
    Role,
    Stage,
    SupervisorChoice,
)

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# A message's files: the customer's at most MAX_FILES_TAKEN (every channel and form), one slot
# kept for the full text of a long message (intake.long_text).
MAX_ATTACHMENTS = 20
MAX_FILES_TAKEN = MAX_ATTACHMENTS - 1
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
DeptCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z][A-Z0-9_]{1,19}$")]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 .()-]{6,20}$")]


# Steps are short database writes; a worker killed mid-step has its step retried on another
# worker after this (tests set it low through COMPLAINTS_STEP_TIMEOUT).
DEFAULT_STEP_TIMEOUT = timedelta(seconds=15)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(Strict):
    user: ShortText
    role: Role
    department: DeptCode | None = None


SYSTEM_ACTOR = Actor(user="system", role=Role.SYSTEM)


class Customer(Strict):
    name: ShortText
    email: EmailStr | None = None
    phone: Phone | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    language: Language = Language.VI


class ComplaintIntake(Strict):
    """What a channel hands over when a complaint arrives."""

    channel: Channel
    customer: Customer
    subject: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    body: LongText
    # When the complaint reached the company; a letter may be entered days after it came.
    received_at: datetime | None = None
    # The channel's own message id (email Message-ID, API Idempotency-Key, import row key).
    intake_key: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None
    received_by: Actor | None = None

    @model_validator(mode="after")
    def _reachable(self) -> "ComplaintIntake":
        if self.channel is Channel.EMAIL and not self.customer.email:
            raise ValueError("an email complaint needs the customer's email")
        if self.channel is Channel.POST and not self.customer.address:
            raise ValueError("a written complaint by post needs the customer's address")
        return self


class ComplaintStart(Strict):
    """The workflow's input: the intake plus everything decided when it was accepted."""

    complaint_id: str
    intake: ComplaintIntake
    received_at: datetime
    policy: SlaPolicy
    # Off only where the server has no custom search attributes registered.
    search_attributes: bool = True
    # Archive the history on completion (an abandoned child workflow). Off only on the
    # time-skipping test server, whose clock stays locked after an abandoned child.
    archive_history: bool = True
    # How long a step's activity may run before another worker retries it. Activity timeouts
    # are not checked on replay, so older runs (without this field) replay unchanged.
    step_timeout: timedelta = Field(default=DEFAULT_STEP_TIMEOUT, gt=timedelta(0))


# --- decision payloads (one model per decision of DESIGN.md) ---


class Decision(Strict):
    actor: Actor


class Verify(Decision):
    summary: LongText
    category: Category
    priority: Priority = Priority.NORMAL
    department: DeptCode | None = None


class Reject(Decision):
    reason: LongText
    duplicate_of: str | None = None


class ResolveOnSpot(Decision):
    agreement: LongText
    cause: LongText
    # Required since ON_SPOT_NEEDS_A_CATEGORY (domain.transitions), a rule of the table rather
    # than of the model: payloads recorded before it have none and must still decode on replay.
    category: Category | None = None


class Reroute(Decision):
    department: DeptCode
    reason: LongText


class Resolve(Decision):
    cause: LongText
    resolution: LongText
    within_authority: bool
    reply_draft: LongText


class Escalate(Decision):
    reason: LongText


class Decide(Decision):
    decision: SupervisorChoice
    instructions: LongText
    department: DeptCode | None = None

    @model_validator(mode="after")
    def _reroute_needs_department(self) -> "Decide":
        if self.decision is SupervisorChoice.REROUTE and not self.department:
            raise ValueError("department is required to reroute")
        return self


class EditDraft(Decision):
    """The supervisor's (or the manager's) own wording of the reply draft before approving or
    signing it: the new version the letter or the reply is made from; the earlier ones stay in
    the log (``domain.lifecycle.draft_versions``)."""

    reply_draft: LongText
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class SignReply(Decision):
    approved: bool
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] | None = None

    @model_validator(mode="after")
    def _refusal_needs_comment(self) -> "SignReply":
        if not self.approved and not self.comment:
            raise ValueError("comment is required when the signature is refused")
        return self


class Reply(Decision):
    method: ReplyMethod
    message: LongText


class Close(Decision):
    root_cause: LongText
    lessons_learned: LongText
    preventive_action: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] | None = None


class Reopen(Decision):
    reason: LongText


class Note(Decision):
    text: LongText


Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Rate(Decision):
    """The customer's satisfaction with a closing (1–5, and a comment if they wish), sent by the
    ``system`` actor on their behalf from the status page."""

    score: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None = None


class Assign(Decision):
    """Give the complaint to one staff member (``None``: unassign). Whether the assignee may
    take it (an active staff member whose scope covers the complaint) is checked against the
    staff directory before the decision is sent: the workflow holds no directory."""

    assignee: Username | None = None


# A stored file (issue 14: attachments live outside workflow payloads, by content hash).
Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-f]{64}$")]
# A mail can be long (quoted history kept in full); still well under Temporal's payload limits.
MessageText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50_000)]
MessageKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AttachmentRef(Strict):
    """A file the customer sent, referenced by its content hash (never its bytes)."""

    sha256: Sha256
    name: ShortText
    content_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    size: int = Field(ge=0)


class CustomerMessage(Decision):
    """What the customer said (a mail, the status page, livechat), recorded by the ``system``
    actor, or a call CS notes on the customer's behalf. Never changes the stage.
    ``message_id`` (the intake key: a Message-ID, a webhook's id) makes it idempotent: the same
    message delivered twice is added once."""

    text: MessageText
    via: Channel
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    reopen_requested: bool = False
    message_id: MessageKey | None = None


DecisionName = Literal[
    "verify",
    "reject",
    "resolve_on_spot",
    "reroute",
    "resolve",
    "escalate",
    "decide",
    "sign_reply",
    "reply",
    "close",
    "reopen",
    "note",
    "assign",
    "customer_message",
    "edit_draft",
    "rate",
]


# --- the state view ---


class LogEntry(BaseModel):
    seq: int
    at: datetime
    action: str
    actor: Actor
    detail: dict[str, Any] = Field(default_factory=dict)
    # The hash chain (domain.audit_chain); None on entries logged before it existed.
    prev_hash: str | None = None
    hash: str | None = None


class Resolution(BaseModel):
    cause: str
    resolution: str
    within_authority: bool
    reply_draft: str
    department: str | None


class Direction(StrEnum):
    IN = "in"  # from the customer
    OUT = "out"  # to the customer (a mail the process sent)


class Message(BaseModel):
    """One entry of the conversation with the customer."""

    direction: Direction
    via: Channel
    at: datetime
    text: str
    # The log entry that added it (a customer_message, or the decision whose mail it is).
    seq: int
    # A CS agent who noted it on the customer's behalf (None: the customer's own channel).
    noted_by: str | None = None
    message_id: str | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list)
    reopen_requested: bool = False
    # An outgoing mail's purpose (acknowledgement, reply, closing, ...).
    purpose: str | None = None


class Satisfaction(BaseModel):
    """A customer's rating of one closing (``closed_at`` names which: a reopened and closed
    again complaint may be rated again)."""

    score: int
    comment: str | None = None
    at: datetime
    closed_at: datetime | None


class ComplaintState(BaseModel):
    """The query ``state``: everything staff see about one complaint."""

    complaint_id: str
    intake_key: str | None = None
    channel: Channel
    customer: Customer
    subject: str
    body: str
    received_at: datetime
    stage: Stage = Stage.RECEIVED
    outcome: Outcome | None = None
    overdue: bool = False
    escalation_level: int = 0
    reopen_count: int = 0
    summary: str | None = None
    category: Category | None = None
    priority: Priority = Priority.NORMAL
    department: str | None = None
    # The staff member working on it (username); None: the queue of the stage's role.
    assignee: str | None = None
    bound_started_at: datetime
    deadline: datetime
    warning_at: datetime
    first_response_due: datetime
    first_response_breached: bool = False
    warned: bool = False
    breaches: int = 0
    resolution: Resolution | None = None
    supervisor_instructions: str | None = None
    signed_by: str | None = None
    reply_method: str | None = None
    reply_message: str | None = None
    root_cause: str | None = None
    lessons_learned: str | None = None
    preventive_action: str | None = None
    rejection_reason: str | None = None
    duplicate_of: str | None = None
    closed_at: datetime | None = None
    reopen_until: datetime | None = None
    # The conversation with the customer, oldest first (issue 14).
    messages: list[Message] = Field(default_factory=list)
    # The customer wrote after closing and CS has not acted on it yet (reopen, or a call noted).
    wrote_after_closing: bool = False
    # ... and asked to reopen: CS confirms with ``reopen``.
    reopen_requested: bool = False
    last_customer_message_at: datetime | None = None
    # The customer's rating of the latest closing they rated (issue 14).
    satisfaction: Satisfaction | None = None
    # Bumped on every change; the store never applies an older version over a newer one.
    version: int = 0
    log: list[LogEntry] = Field(default_factory=list)
