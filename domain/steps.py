"""What the workflow hands its activities: the contract between orchestration and side effects."""

from enum import StrEnum

from pydantic import BaseModel, Field

from domain.models import ComplaintState, LogEntry


class Audience(StrEnum):
    CUSTOMER = "customer"
    # Staff and supervisor of the assigned department (the day-15 warning).
    DEPARTMENT = "department"
    # Supervisor of the department; the manager too from level 2 or on an SLA breach.
    ESCALATION = "escalation"
    # The CS supervisor (first response not given in time).
    CS_SUPERVISOR = "cs_supervisor"


class MailRequest(BaseModel):
    purpose: str
    audience: Audience


class StepInput(BaseModel):
    """One step to project: the state after it (with only its last log entry) and that entry."""

    state: ComplaintState
    entry: LogEntry
    intake_key: str | None = None
    mails: list[MailRequest] = Field(default_factory=list)
    # route: the department asked for explicitly (else the routing table decides)
    requested_department: str | None = None


class StepResult(BaseModel):
    message_ids: list[str] = Field(default_factory=list)
    department: str | None = None


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


class ArchiveRequest(BaseModel):
    """Archive this run's history once it has closed (HistoryArchiveWorkflow)."""

    complaint_id: str
    run_id: str


# Workflow type names: clients start and find workflows by name, never by importing them.
COMPLAINT_WORKFLOW = "ComplaintWorkflow"
ARCHIVE_WORKFLOW = "HistoryArchiveWorkflow"


def archive_workflow_id(complaint_id: str) -> str:
    return f"{complaint_id}.archive"
