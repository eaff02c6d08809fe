"""The JSON API under /api/v1 (DESIGN.md, Interfaces): thin routes over the service layer."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from admin import i18n
from admin.deps import CurrentUser, ServiceDep, SessionDep, bearer_token, browser_session
from admin.errors import ServiceError
from admin.security import csrf_ok
from admin.services.complaints import AuditEvent, Filters
from admin.services.queues import queue_counts
from admin.sign_in import revoke_token
from domain.models import ComplaintIntake, ComplaintState, Customer
from domain.vocabulary import Category, Channel, Priority, Stage
from store.tables import Complaint


async def csrf_for_cookie_sessions(request: Request) -> None:
    """A browser session must prove its origin on writes; bearer-token clients need not (and
    their cookie is then ignored). Any other Authorization header leaves the cookie in charge."""
    if request.method in ("GET", "HEAD", "OPTIONS") or bearer_token(request) is not None:
        return
    if not csrf_ok(browser_session(request), request.headers.get("x-csrf-token")):
        raise ServiceError(403, "csrf", "missing or wrong X-CSRF-Token header")


router = APIRouter(prefix="/api/v1", tags=["complaints"], dependencies=[Depends(csrf_for_cookie_sessions)])


class NewComplaint(BaseModel):
    channel: Channel
    customer: Customer
    subject: str = Field("", max_length=200)
    body: str
    received_at: AwareDatetime | None = Field(
        None, description="when it arrived, if earlier (a letter entered later); at most 30 days ago"
    )


class Filed(BaseModel):
    id: str
    created: bool


class ComplaintSummary(BaseModel):
    id: str
    stage: Stage
    channel: Channel
    customer_name: str
    subject: str
    category: str | None
    priority: Priority
    department: str | None
    assignee: str | None = Field(description="the username of the staff member working on it")
    overdue: bool
    escalation_level: int
    received_at: datetime
    deadline: datetime
    wrote_after_closing: bool = Field(False, description="the customer wrote after closing; CS has not acted yet")
    reopen_requested: bool = Field(False, description="... and asked to reopen (CS confirms with `reopen`)")
    last_customer_message_at: datetime | None = Field(None, description="when the customer last wrote")


class ComplaintList(BaseModel):
    items: list[ComplaintSummary]
    next: str | None = Field(None, description="cursor for the next page (pass as `after`)")


class ComplaintView(BaseModel):
    state: ComplaintState
    actions: list[str] = Field(description="decisions the caller may take now")


class Error(BaseModel):
    error: str
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Error} for code in (401, 403, 404, 409, 422, 503)}


@router.post(
    "/complaints",
    status_code=201,
    response_model=Filed,
    responses={**ERRORS, 200: {"model": Filed, "description": "already filed under this Idempotency-Key"}},
)
async def create_complaint(
    complaint: NewComplaint,
    user: CurrentUser,
    service: ServiceDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Filed:
    key = f"api:{user.username}:{idempotency_key}" if idempotency_key else None
    try:
        intake = ComplaintIntake(**complaint.model_dump(), intake_key=key)
    except ValidationError as exc:
        raise ServiceError.invalid(exc) from exc
    filed = await service.file(user, intake)
    if not filed.created:
        response.status_code = 200
    return Filed(id=filed.complaint_id, created=filed.created)


@router.get("/complaints", response_model=ComplaintList, responses=ERRORS)
async def list_complaints(
    user: CurrentUser,
    service: ServiceDep,
    stage: Stage | None = None,
    department: str | None = None,
    category: Category | None = None,
    channel: Channel | None = None,
    priority: Priority | None = None,
    assignee: Annotated[
        str | None, Query(max_length=100, description="a username, or `me`: the complaints assigned to the caller")
    ] = None,
    overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,  # a NUL is no text
    received_from: AwareDatetime | None = None,
    received_to: AwareDatetime | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ComplaintList:
    filters = Filters(
        stage=stage.value if stage else None,
        department=department,
        category=category.value if category else None,
        channel=channel.value if channel else None,
        priority=priority.value if priority else None,
        assignee=assignee,
        overdue=overdue,
        q=q,
        received_from=received_from,
        received_to=received_to,
    )
    page = await service.search(user, filters, after, limit)
    return ComplaintList(
        items=[_summary(r) for r in page.items],
        next=page.next_cursor,
    )


def _summary(r: Complaint) -> ComplaintSummary:
    return ComplaintSummary(
        id=r.id,
        stage=Stage(r.stage),
        channel=Channel(r.channel),
        customer_name=r.customer_name,
        subject=r.subject,
        category=r.category,
        priority=Priority(r.priority),
        department=r.department_code,
        assignee=r.assignee,
        overdue=r.overdue,
        escalation_level=r.escalation_level,
        received_at=r.received_at,
        deadline=r.deadline,
        wrote_after_closing=r.wrote_after_closing,
        reopen_requested=r.reopen_requested,
        last_customer_message_at=r.last_customer_message_at,
    )


class CustomerComplaint(ComplaintSummary):
    stage_label: str = Field(description="the stage in the caller's language")


class CustomerComplaints(BaseModel):
    items: list[CustomerComplaint]


@router.get("/customers/complaints", response_model=CustomerComplaints, responses=ERRORS)
async def customer_complaints(
    user: CurrentUser,
    service: ServiceDep,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> CustomerComplaints:
    """The complaints of the customer with this phone or e-mail (normalised: +84 or 0, spaces,
    dots and dashes; case), newest first, among those the caller may see: the possible
    duplicates the new-complaint form shows while staff type."""
    lang = i18n.normalize(user.language)
    found = await service.customer_complaints(user, phone, email)
    return CustomerComplaints(
        items=[
            CustomerComplaint(**_summary(r).model_dump(), stage_label=i18n.label(lang, "stage", r.stage)) for r in found
        ]
    )


@router.get("/complaints/{complaint_id}", response_model=ComplaintView, responses=ERRORS)
async def get_complaint(complaint_id: str, user: CurrentUser, service: ServiceDep) -> ComplaintView:
    state = await service.state(user, complaint_id)
    return ComplaintView(state=state, actions=service.actions(user, state))


@router.post("/complaints/{complaint_id}/actions/{decision}", response_model=ComplaintView, responses=ERRORS)
async def take_decision(
    complaint_id: str,
    decision: str,
    user: CurrentUser,
    service: ServiceDep,
    body: Annotated[dict[str, Any], Body(description="the decision's fields (DESIGN.md); the actor is you")],
) -> ComplaintView:
    state = await service.decide(user, complaint_id, decision, body)
    return ComplaintView(state=state, actions=service.actions(user, state))


class HistoryEvent(BaseModel):
    at: datetime
    kind: str
    name: str
    actor: dict[str, Any] | None
    fields: dict[str, Any]


@router.get("/complaints/{complaint_id}/history", response_model=list[HistoryEvent], responses=ERRORS)
async def complaint_history(complaint_id: str, user: CurrentUser, service: ServiceDep) -> list[HistoryEvent]:
    events: list[AuditEvent] = await service.history(user, complaint_id)
    return [HistoryEvent(at=e.at, kind=e.kind, name=e.name, actor=e.actor, fields=e.fields) for e in events]


class AnonymiseRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=1000, description="the customer's request, as received")


class Anonymised(BaseModel):
    id: str
    request_id: int
    anonymised_at: datetime
    counts: dict[str, int]


@router.post("/complaints/{complaint_id}/anonymise", response_model=Anonymised, responses=ERRORS)
async def anonymise_complaint(
    complaint_id: str, request: AnonymiseRequest, user: CurrentUser, service: ServiceDep
) -> Anonymised:
    """Personal data request (manager only; closed complaints whose reopen window has ended)."""
    done = await service.anonymise(user, complaint_id, request.reason)
    counts = {k: int(v) for k, v in done.detail.items() if isinstance(v, int)}
    return Anonymised(id=complaint_id, request_id=done.id, anonymised_at=done.done_at, counts=counts)


@router.delete("/token", status_code=204, responses=ERRORS)
async def revoke_my_token(user: CurrentUser, session: SessionDep) -> Response:
    """Revoke the caller's API token (e.g. one that leaked); issue a new one with `python -m admin token`."""
    await revoke_token(session, user.username)
    await session.commit()
    return Response(status_code=204)


class QueueCountOut(BaseModel):
    queue: str = Field(description="stable key of the queue, e.g. to-verify")
    title: str = Field(description="the queue's name in the caller's language")
    count: int


@router.get("/me/queues", response_model=list[QueueCountOut], responses=ERRORS)
async def my_queue_counts(user: CurrentUser, session: SessionDep) -> list[QueueCountOut]:
    """How many complaints each of the caller's queues ("My work") holds, within what the caller
    may open: what the menu shows and refreshes."""
    lang = i18n.normalize(user.language)
    return [QueueCountOut(queue=q.key, title=i18n.gettext(lang, q.title), count=q.count)
            for q in await queue_counts(session, user.actor)]  # fmt: skip
