"""What the workflow hands its activities: the contract between orchestration and side effects."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.models import Actor, ComplaintState, LogEntry


class Audience(StrEnum):
    CUSTOMER = "customer"
    # Staff and supervisor of the assigned department (the day-15 warning).
    DEPARTMENT = "department"
    # Supervisor of the department; the manager too from level 2 or on an SLA breach.
    ESCALATION = "escalation"
    # The CS supervisor (first response not given in time).
    CS_SUPERVISOR = "cs_supervisor"
    # The staff member the complaint was just assigned to.
    ASSIGNEE = "assignee"
    # Whoever handles it now: the assignee, else the department's staff (CS before verification).
    HANDLER = "handler"


class MailRequest(BaseModel):
    purpose: str
    audience: Audience


class RouteRequest(BaseModel):
    """Send the complaint to a department: the one asked for, else the routing table's."""

    actor: Actor
    at: datetime
    reason: str | None = None
    requested_department: str | None = None


class StepInput(BaseModel):
    """One step to project: the state after it (with only its last log entry) and that entry.
    A route step carries ``route`` instead: the activity works out the routed state itself."""

    state: ComplaintState
    entry: LogEntry
    intake_key: str | None = None
    mails: list[MailRequest] = Field(default_factory=list)
    route: RouteRequest | None = None
    # Route steps scheduled before ``route`` existed: the department asked for, and the request
    # itself in ``entry`` (a placeholder log entry). Read only to finish those.
    requested_department: str | None = None

    def route_request(self) -> RouteRequest:
        if self.route is not None:
            return self.route
        return RouteRequest(
            actor=self.entry.actor,
            at=self.entry.at,
            reason=self.entry.detail.get("reason"),
            requested_department=self.requested_department,
        )


class StepResult(BaseModel):
    message_ids: list[str] = Field(default_factory=list)
    department: str | None = None
    # route: the log entry of the routing, as the activity projected it (the workflow appends it
    # as is); None in results recorded before it was returned.
    route_entry: LogEntry | None = None


class Activity(StrEnum):
    """Activity names (the workflow refers to activities by name only)."""

    RECEIVE = "receive"
    VERIFY = "verify"
    ROUTE = "route"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    REPLY = "reply"
    CLOSE = "close"
    RECORD = "record"
    DELIVER_MAIL = "deliver_mail"
    ARCHIVE_HISTORY = "archive_history"
    # The mailbox poll (workflows/mailbox_poll.py, activities/mailbox.py)
    MAILBOX_FETCH = "mailbox_fetch"
    MAILBOX_TAKE_IN = "mailbox_take_in"
    MAILBOX_MARK = "mailbox_mark"
    # The link lookup (workflows/status_link.py, activities/status_link.py)
    QUEUE_STATUS_LINK = "queue_status_link"


class ArchiveRequest(BaseModel):
    """Archive this run's history once it has closed (HistoryArchiveWorkflow)."""

    complaint_id: str
    run_id: str


# Workflow type names: clients start and find workflows by name, never by importing them.
COMPLAINT_WORKFLOW = "ComplaintWorkflow"
ARCHIVE_WORKFLOW = "HistoryArchiveWorkflow"
MAILBOX_POLL_WORKFLOW = "MailboxPollWorkflow"
STATUS_LINK_WORKFLOW = "StatusLinkWorkflow"


class StatusLinkRequest(BaseModel):
    """A customer asks for their status link again (the public lookup page): the case id as
    typed (normalised, not checked against the store: that is the activity's, off the request
    path) and the SHA-256 of the address typed (trimmed, lower case), never the address itself."""

    complaint_id: str = Field(max_length=20)
    email_hash: str = Field(min_length=64, max_length=64)
    key: str = Field(max_length=64)  # the lookup form's nonce: one request, one mail at most
    requested_at: datetime


def status_link_workflow_id(key: str) -> str:
    return f"status-link-{key}"


def archive_workflow_id(complaint_id: str) -> str:
    return f"{complaint_id}.archive"
