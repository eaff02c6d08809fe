"""The service layer behind the API and the pages: file, read, list, decide, audit.

Routes stay thin over this; every rule it applies comes from ``domain`` (the transition
table decides who may do what, the same table the workflow's validators read).
"""

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Integer, and_, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from admin.errors import FILING_UNKNOWN, OUTCOME_UNKNOWN, UNAVAILABLE, ServiceError, no_access, not_found
from admin.services.canned_replies import TARGETS, CannedReplies, Offer
from admin.services.conversation import ConversationEntry, conversation
from admin.services.queues import QUEUE_LIMIT, queue_order, work_queues
from admin.users import User
from config.settings import Settings
from correspondence.context import complaint_context
from correspondence.rendering import render_letter
from domain import access
from domain.access import ASSIGNABLE_ROLES, can_access, can_access_department, may_be_assigned
from domain.data_requests import may_anonymise
from domain.effects import CUSTOMER_MAILS
from domain.models import Actor, Assign, ComplaintIntake, ComplaintState, LogEntry
from domain.transitions import TRANSITIONS, Refusal, available_decisions, check
from domain.vocabulary import PRIORITY_ORDER, Role, Stage
from encryption.payload_codec import REFUSED, data_keys_of
from intake.filing import Filed, IntakeRefused, file_complaint
from store import attachments, customers, projection, public_tokens, scopes, search
from store.anonymise import anonymise
from store.archive import load_archive
from store.ranks import PRIORITY_RANK_SQL, STAGE_RANK_SQL
from store.tables import LISTED, Complaint, DataRequest, Department, Letter, OutboxMail, Staff

log = logging.getLogger("admin.service")
PAGE_SIZE = 50
MAX_QUERY = 200  # characters of a search
HEALTH_TIMEOUT = timedelta(seconds=5)
# Why a duplicate's original is refused (admin.forms.RULES says it beside the field)
SELF_DUPLICATE = "a complaint cannot duplicate itself"
NO_ORIGINAL = "there is no such complaint"
UNAVAILABLE_CODES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


@dataclass(frozen=True)
class Filters:
    stage: str | None = None
    department: str | None = None
    category: str | None = None
    channel: str | None = None
    priority: str | None = None
    # A username; "me" is the reader.
    assignee: str | None = None
    overdue: bool | None = None
    q: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    sort: str = "received"  # a key of SORTS


# The list's orders besides the default (received_at, id, newest first): each ascending, ending
# in the deadline and the id so that the order is total; migration 0011 indexes each of them.
PRIORITY_RANK = literal_column(f"({PRIORITY_RANK_SQL})", Integer)
STAGE_RANK = literal_column(f"({STAGE_RANK_SQL})", Integer)
SORTS: dict[str, tuple[ColumnElement[Any] | InstrumentedAttribute[Any], ...]] = {
    "deadline": (Complaint.deadline, Complaint.id),
    "priority": (PRIORITY_RANK, Complaint.deadline, Complaint.id),
    "stage": (STAGE_RANK, Complaint.deadline, Complaint.id),
}
SORT_NAMES = ("received", *SORTS)


def _rank(value: str, order: list[str]) -> int:
    """``store.ranks.rank_sql`` in Python, for the cursor."""
    return order.index(value) if value in order else len(order)


def _sort_key(sort: str, row: Complaint) -> list[int | str]:
    """The values of ``SORTS[sort]`` for ``row`` (the deadline as ISO text), as its cursor carries them."""
    ranks = {
        "priority": [_rank(row.priority, [p.value for p in PRIORITY_ORDER])],
        "stage": [_rank(row.stage, [s.value for s in Stage])],
    }.get(sort, [])
    return [*ranks, row.deadline.isoformat(), row.id]


@dataclass(frozen=True)
class Page:
    items: list[Complaint]
    next_cursor: str | None


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    kind: str  # started, decision, signal, timer, completed
    name: str
    actor: dict[str, Any] | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class ComplaintPage:
    state: ComplaintState
    actions: list[str]
    customer_mails: list[OutboxMail]
    staff_mails: list[OutboxMail]  # escalations, warnings: internal notifications
    events: list[AuditEvent]
    departments: list[Department]
    anonymised: bool
    may_anonymise: bool
    people: dict[str, str]  # username -> full name, for everyone the page names
    history: list[Complaint]  # the same customer's other complaints (by phone or e-mail), newest first
    duplicates: list[Complaint]  # the complaints rejected as duplicates of this one
    assignees: list[Staff]  # who the complaint may be assigned to (the assign form's picker)
    canned: list[Offer]  # the canned replies its forms offer, filled in for it
    conversation: list[ConversationEntry]  # the customer's messages and the mails sent to them
    public_links: int  # live links to the customer's status page


@dataclass(frozen=True)
class Queue:
    title: str  # msgid
    rows: list[Complaint]


def _cursor(row: Complaint, sort: str = "received") -> str:
    if sort == "received":  # the format the list has always used: old links keep working
        return base64.urlsafe_b64encode(f"{row.received_at.isoformat()}|{row.id}".encode()).decode()
    return base64.urlsafe_b64encode(json.dumps([sort, *_sort_key(sort, row)]).encode()).decode()


INVALID_CURSOR: tuple[str, dict[str, Any]] = (
    "This page of the list is no longer valid. Start again from the first page.",
    {},
)


def _parse_sorted_cursor(cursor: str, sort: str) -> ColumnElement[bool]:
    """The rows after ``cursor`` in ``SORTS[sort]``'s order; a cursor of another sort is refused."""
    columns = SORTS[sort]
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        if not (isinstance(values, list) and len(values) == len(columns) + 1 and values[0] == sort):
            raise ValueError("not a cursor of this sort")
        *ranks, deadline, cid = values[1:]
        if not all(type(r) is int for r in ranks) or not isinstance(cid, str):
            raise ValueError("malformed cursor")
        at = datetime.fromisoformat(deadline)
        if at.tzinfo is None:
            raise ValueError(deadline)
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise ServiceError(422, "invalid", "invalid cursor", field="after", page=INVALID_CURSOR) from exc
    key = [*ranks, _utc(at, "after"), cid]
    # (a, b, c) > (x, y, z), spelt out (row values are not on every database's index path),
    # with the first column's bound repeated alone so that the index walk starts there.
    after: list[ColumnElement[bool]] = []
    for i, column in enumerate(columns):
        after.append(and_(*(columns[j] == key[j] for j in range(i)), column > key[i]))
    return and_(columns[0] >= key[0], or_(*after))


def _utc(value: datetime, field: str) -> datetime:
    """``value`` in UTC, as the store compares it; a date with no UTC equivalent (year 1 east of
    Greenwich, 9999-12-31 west of it) is refused rather than overflowing in the query."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ServiceError(422, "invalid", f"{field}: out of range", field=field) from exc


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, cid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        received = datetime.fromisoformat(at)
        if received.tzinfo is None:  # ours always carry the zone
            raise ValueError(at)
    except ValueError as exc:
        raise ServiceError(422, "invalid", "invalid cursor", field="after", page=INVALID_CURSOR) from exc
    return _utc(received, "after"), cid


class ComplaintService:
    def __init__(self, session: AsyncSession, temporal: Callable[[], Awaitable[Client]], settings: Settings) -> None:
        # Temporal is connected on first use: listing and searching read the store only, so
        # they keep working while Temporal is down (decisions then get a clear 503).
        self.session, self._temporal, self.settings = session, temporal, settings

    async def client(self) -> Client:
        return await self._temporal()

    async def file(self, user: User, intake: ComplaintIntake) -> Filed:
        intake = intake.model_copy(update={"received_by": user.actor})
        try:
            return await file_complaint(await self.client(), self.settings, intake)
        except IntakeRefused as exc:
            raise ServiceError(422, "invalid", str(exc), field=exc.field) from exc
        except RPCError as exc:
            if exc.status in UNAVAILABLE_CODES:
                raise FILING_UNKNOWN from exc
            raise self._rpc_error(exc, "") from exc

    async def state(self, user: User, complaint_id: str) -> ComplaintState:
        if await self.anonymised(complaint_id):
            # Closed for good, and its data key shredded: the workflow can no longer read its own
            # history (a query would fail); the store's anonymised copy is the record.
            stored = await self._stored_state(complaint_id)
            if not can_access(user.actor, stored):
                raise no_access(complaint_id)
            return stored
        handle = (await self.client()).get_workflow_handle(complaint_id)
        try:
            state: ComplaintState = await handle.query("state", result_type=ComplaintState)
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise self._rpc_error(exc, complaint_id) from exc
            # Past the namespace's retention Temporal no longer has it: the store's copy is the record.
            state = await self._stored_state(complaint_id)
        if not can_access(user.actor, state):
            raise no_access(complaint_id)
        return state

    def actions(self, user: User, state: ComplaintState) -> list[str]:
        return available_decisions(user.actor, state, datetime.now(UTC))

    async def decide(self, user: User, complaint_id: str, name: str, body: dict[str, Any]) -> ComplaintState:
        transition = TRANSITIONS.get(name)
        if transition is None:
            raise ServiceError(404, "unknown_decision", f"unknown decision {name!r}")
        try:
            payload = transition.payload.model_validate({**body, "actor": user.actor.model_dump()})
        except ValidationError as exc:
            raise ServiceError.invalid(exc) from exc
        projected = (
            await self.session.execute(select(Complaint.department_code).where(Complaint.id == complaint_id))
        ).first()
        if projected is None:  # just filed (not projected yet), or unknown: the workflow answers
            await self._precheck(user, complaint_id, name, payload)
        elif not can_access_department(user.actor, projected.department_code):
            raise no_access(complaint_id)
        # The workflow cannot read the department table: a code it does not hold would orphan
        # the complaint (nobody's queue), so it is refused here, before anything is sent.
        department = getattr(payload, "department", None)
        if department is not None and await self.session.get(Department, department) is None:
            raise ServiceError(422, "invalid", f"department: there is no department {department}", field="department")
        # Nor can it tell whether the original of a duplicate exists (the domain refuses the self case).
        await self._check_original(user, complaint_id, getattr(payload, "duplicate_of", None))
        # Nor can it read the staff directory: an assignee must be someone who may work on it.
        if isinstance(payload, Assign) and payload.assignee is not None:
            where = projected.department_code if projected else (await self.state(user, complaint_id)).department
            await self._check_assignee(payload.assignee, where)
        # No state query first (a round trip through the worker): the workflow's validator applies
        # the transition table and its refusal carries the same code; a refused update leaves no
        # history. A health check (server only, ~1 ms) keeps "nothing was applied" a true answer
        # when Temporal is already down.
        client = await self.client()
        try:
            await client.service_client.check_health(timeout=HEALTH_TIMEOUT)
        except RPCError as exc:
            raise self._rpc_error(exc, complaint_id) from exc
        handle = client.get_workflow_handle(complaint_id)
        try:
            result: ComplaintState = await handle.execute_update(name, payload, result_type=ComplaintState)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise ServiceError.from_code(cause.type or "refused", cause.message) from exc
            raise ServiceError(409, "refused", str(cause or exc)) from exc
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:  # past retention: the store's copy refuses it
                await self._precheck(user, complaint_id, name, payload)
            if exc.status in UNAVAILABLE_CODES:
                # The request may have reached the server before it went away: do not claim otherwise.
                raise OUTCOME_UNKNOWN from exc
            raise self._rpc_error(exc, complaint_id) from exc
        return result

    async def _check_original(self, user: User, complaint_id: str, duplicate_of: str | None) -> None:
        """A duplicate's original must be another complaint the user may see (one they may not
        is answered as one that does not exist)."""
        if duplicate_of is None:
            return
        if duplicate_of == complaint_id:
            raise ServiceError(422, "invalid", f"duplicate_of: {SELF_DUPLICATE}", field="duplicate_of")
        original = select(Complaint.id).where(Complaint.id == duplicate_of, *scopes.visible_to(user.actor))
        if await self.session.scalar(original) is None:
            raise ServiceError(422, "invalid", f"duplicate_of: {NO_ORIGINAL}", field="duplicate_of")

    async def customer_complaints(
        self, user: User, phone: str | None, email: str | None, exclude: str | None = None
    ) -> list[Complaint]:
        """The complaints of the customer with this phone or e-mail that ``user`` may see
        (``exclude``: the complaint being read)."""
        conditions = scopes.visible_to(user.actor)
        if exclude is not None:
            conditions.append(Complaint.id != exclude)
        return await customers.customer_complaints(self.session, phone, email, conditions)

    async def duplicates_of(self, user: User, complaint_id: str) -> list[Complaint]:
        query = customers.duplicates_of(complaint_id, scopes.visible_to(user.actor))
        return list((await self.session.scalars(query)).all())

    async def _check_assignee(self, username: str, department: str | None) -> None:
        staff = await self.session.scalar(select(Staff).where(Staff.username == username, Staff.active.is_(True)))
        if staff is None:
            page = ("There is no active staff member %(name)s.", {"name": username})
            message = f"assignee: there is no active staff member {username}"
            raise ServiceError(422, "invalid", message, field="assignee", page=page)
        if not may_be_assigned(_actor_of(staff), department):
            # (the bulk page says it by complaint; the complaint page beside the picker)
            page = ("%(name)s does not work on this department's complaints.", {"name": staff.full_name})
            message = f"assignee: {username} does not work on this department's complaints"
            raise ServiceError(422, "invalid", message, field="assignee", page=page)

    async def assignable_staff(self, user: User) -> list[Staff]:
        """Everyone a complaint ``user`` sees may be assigned to (the list's assignee filter)."""
        query = select(Staff).where(Staff.active.is_(True), Staff.role.in_([r.value for r in ASSIGNABLE_ROLES]))
        found = (await self.session.scalars(query.order_by(Staff.full_name, Staff.username))).all()
        department = access.visible_department(user.actor)
        return [s for s in found if department is None or may_be_assigned(_actor_of(s), department)]

    async def assignees(self, department: str | None) -> list[Staff]:
        """Active staff who may be given a complaint of ``department``, by full name."""
        query = select(Staff).where(Staff.active.is_(True), Staff.role.in_([r.value for r in ASSIGNABLE_ROLES]))
        found = (await self.session.scalars(query.order_by(Staff.full_name, Staff.username))).all()
        return [s for s in found if may_be_assigned(_actor_of(s), department)]

    async def _precheck(self, user: User, complaint_id: str, name: str, payload: Any) -> None:
        """The transition table on the complaint's current state, as the workflow would apply it."""
        state = await self.state(user, complaint_id)
        refusal = check(name, payload, state, datetime.now(UTC))
        if refusal is not None:
            raise ServiceError.refused(refusal)

    async def search(self, user: User, filters: Filters, after: str | None = None, limit: int = PAGE_SIZE) -> Page:
        if filters.q and len(filters.q) > MAX_QUERY:
            raise ServiceError(422, "invalid", f"q: at most {MAX_QUERY} characters", field="q")
        if filters.sort not in SORT_NAMES:
            raise ServiceError(422, "invalid", f"sort: one of {', '.join(SORT_NAMES)}", field="sort")
        conditions = self._conditions(user, filters)
        if filters.sort != "received":
            return await self._sorted(filters, conditions, after, limit)
        newest = _utc(filters.received_to, "received_to") if filters.received_to else None
        oldest = _utc(filters.received_from, "received_from") if filters.received_from else None
        if after:
            at, cid = _parse_cursor(after)
            conditions.append(or_(Complaint.received_at < at, and_(Complaint.received_at == at, Complaint.id < cid)))
            newest = at if newest is None else min(newest, at)
        dialect = self.session.get_bind().dialect.name
        if filters.q and search.in_received_order(dialect, filters.q):
            rows = await search.newest_matches(self.session, filters.q, conditions, limit + 1, newest, oldest)
        else:
            if filters.q:
                conditions.append(search.matches(dialect, filters.q))
            query = select(Complaint).options(LISTED).where(*conditions)
            query = query.order_by(Complaint.received_at.desc(), Complaint.id.desc()).limit(limit + 1)
            rows = list((await self.session.scalars(query)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, _cursor(rows[-1]) if more and rows else None)

    async def _sorted(
        self, filters: Filters, conditions: list[ColumnElement[bool]], after: str | None, limit: int
    ) -> Page:
        """A page of the list in one of ``SORTS``: the text search as a condition, the index in that order."""
        if after:
            conditions.append(_parse_sorted_cursor(after, filters.sort))
        if filters.q:
            conditions.append(search.matches(self.session.get_bind().dialect.name, filters.q))
        query = select(Complaint).options(LISTED).where(*conditions).order_by(*SORTS[filters.sort])
        rows = list((await self.session.scalars(query.limit(limit + 1))).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, _cursor(rows[-1], filters.sort) if more and rows else None)

    def _conditions(self, user: User, filters: Filters) -> list[ColumnElement[bool]]:
        """What the list's filters and the user's scope allow, as SQL (the text search apart)."""
        conditions: list[ColumnElement[bool]] = scopes.visible_to(user.actor)
        for column, value in (
            (Complaint.stage, filters.stage),
            (Complaint.department_code, filters.department),
            (Complaint.category, filters.category),
            (Complaint.channel, filters.channel),
            (Complaint.priority, filters.priority),
            (Complaint.assignee, user.username if filters.assignee == "me" else filters.assignee),
        ):
            if value is not None and value != "":
                conditions.append(column == value)
        if filters.overdue is not None:
            overdue = scopes.overdue(datetime.now(UTC))
            conditions.append(overdue if filters.overdue else ~overdue)
        if filters.received_from:
            conditions.append(Complaint.received_at >= _utc(filters.received_from, "received_from"))
        if filters.received_to:
            conditions.append(Complaint.received_at < _utc(filters.received_to, "received_to"))
        return conditions

    async def _mails(self, complaint_id: str) -> list[OutboxMail]:
        query = select(OutboxMail).where(OutboxMail.complaint_id == complaint_id).order_by(OutboxMail.created_at)
        return list((await self.session.scalars(query)).all())

    async def page(self, user: User, complaint_id: str) -> ComplaintPage:
        """Everything the complaint page shows, from one state query and one read of the row."""
        state = await self.state(user, complaint_id)
        mails = await self._mails(complaint_id)
        events = await self._audit(complaint_id)
        named = {e.actor.user for e in state.log} | {str(e.actor.get("user")) for e in events if e.actor}
        named |= {str(v) for e in events for k, v in e.fields.items() if k in ("assignee", "unassigned") and v}
        named |= {state.assignee} if state.assignee else set()
        named |= {m.noted_by for m in state.messages if m.noted_by}
        actions = self.actions(user, state)
        return ComplaintPage(
            state=state,
            actions=actions,
            customer_mails=[m for m in mails if m.purpose in CUSTOMER_MAILS],
            staff_mails=[m for m in mails if m.purpose not in CUSTOMER_MAILS],
            events=events,
            departments=await self.departments(),
            anonymised=await self.anonymised(complaint_id),
            may_anonymise=await self.anonymise_refusal(user, state) is None,
            people=await self.full_names(named | ({state.signed_by} if state.signed_by else set())),
            history=await self.customer_complaints(user, state.customer.phone, state.customer.email, complaint_id),
            duplicates=await self.duplicates_of(user, complaint_id),
            assignees=await self.assignees(state.department) if "assign" in actions else [],
            canned=await CannedReplies(self.session).offers(user, state) if set(actions) & set(TARGETS) else [],
            conversation=conversation(state, mails),
            public_links=await public_tokens.live_count(self.session, complaint_id),
        )

    async def full_names(self, usernames: set[str]) -> dict[str, str]:
        """Staff are shown by their full names; an unknown name (the system, a removed account) as it is."""
        query = select(Staff.username, Staff.full_name).where(Staff.username.in_(usernames))
        return {username: name for username, name in (await self.session.execute(query)).all()}

    async def assignee_names(self, rows: list[Complaint]) -> dict[str, str]:
        """The full names of the assignees of listed rows."""
        return await self.full_names({row.assignee for row in rows if row.assignee})

    async def departments(self) -> list[Department]:
        return list((await self.session.scalars(select(Department).order_by(Department.code))).all())

    async def department_names(self, lang: str) -> dict[str, str]:
        """Departments by their names in ``lang`` (the codes are for the machines)."""
        return {d.code: d.name_vi if lang == "vi" else d.name_en for d in await self.departments()}

    async def queues(self, user: User) -> list[Queue]:
        """The queues of the user's landing page (``admin.services.queues``): most pressing first,
        then the soonest deadline."""
        found = []
        for title, where in work_queues(user.actor):
            query = (
                select(Complaint)
                .options(LISTED)
                .where(*scopes.visible_to(user.actor), where)
                .order_by(*queue_order(title))
            )
            found.append(Queue(title, list((await self.session.scalars(query.limit(QUEUE_LIMIT))).all())))
        return found

    async def letter_preview(self, user: User, complaint_id: str) -> str:
        """The written answer as it would be issued from the current draft, marked as a draft
        (not signed): what the supervisor reads before signing."""
        state = await self.state(user, complaint_id)
        if state.resolution is None:
            page = ("There is no reply draft for complaint %(id)s yet.", {"id": complaint_id})
            raise ServiceError(404, "not_found", f"no reply draft for {complaint_id}", page=page)
        context = complaint_context(state, self.settings, state.customer.name)
        context["message"] = state.resolution.reply_draft
        return render_letter(context, state.customer.language)

    async def letter(self, user: User, complaint_id: str) -> Letter | None:
        """The latest issued letter of a complaint the user may see."""
        await self.state(user, complaint_id)
        query = select(Letter).where(Letter.complaint_id == complaint_id).order_by(Letter.seq.desc()).limit(1)
        found: Letter | None = await self.session.scalar(query)
        return found

    async def _stored_state(self, complaint_id: str) -> ComplaintState:
        row = await self.session.get(Complaint, complaint_id)
        if row is None:
            raise not_found(complaint_id)
        log = [
            LogEntry(
                seq=r.seq,
                at=r.at,
                action=r.action,
                actor=Actor(user=r.actor_user, role=Role(r.actor_role), department=r.actor_department),
                detail=r.detail,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in await projection.log_rows(self.session, complaint_id)
        ]
        return ComplaintState.model_validate({**row.state, "log": log})

    async def _history(self, complaint_id: str) -> WorkflowHistory:
        """The workflow's history from Temporal, else from the store's archive."""
        try:
            return await (await self.client()).get_workflow_handle(complaint_id).fetch_history()
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise self._rpc_error(exc, complaint_id) from exc
        archived = await load_archive(self.session, complaint_id)
        if archived is None:
            raise not_found(complaint_id)
        return WorkflowHistory.from_json(complaint_id, archived.history_json)

    async def history(self, user: User, complaint_id: str) -> list[AuditEvent]:
        await self.state(user, complaint_id)
        return await self._audit(complaint_id)

    async def _audit(self, complaint_id: str) -> list[AuditEvent]:
        """The audit trail, read from the workflow history itself (who, what, when, fields);
        from the store's archive once Temporal's retention has removed it. Decoded for this
        complaint only: a payload the product did not write for it (a forged or copied signal,
        which Temporal records even though the workflow drops it) shows as refused, never as
        its claimed author. Once anonymised (the data key shredded), from the log rows: who,
        when, which decision, and the hash chain."""
        if await self.anonymised(complaint_id):
            return [
                AuditEvent(
                    r.at,
                    "started" if r.action == "receive" else "decision",
                    r.action,
                    {"user": r.actor_user, "role": r.actor_role, "department": r.actor_department},
                    {**r.detail, "hash": r.hash},
                )
                for r in await projection.log_rows(self.session, complaint_id)
            ]
        history = await self._history(complaint_id)
        client = await self.client()
        context = WorkflowSerializationContext(namespace=client.namespace, workflow_id=complaint_id)
        converter = client.data_converter.with_context(context)
        events: list[AuditEvent] = []
        for event in history.events:
            at = event.event_time.ToDatetime(tzinfo=UTC)
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                events.append(AuditEvent(at, "started", "receive", None, {}))
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                fields = await _decode(converter, request.input.args.payloads)
                actor = fields.pop("actor", None)
                events.append(AuditEvent(at, "decision", request.input.name, actor, fields))
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                attrs = event.workflow_execution_signaled_event_attributes
                fields = await _decode(converter, attrs.input.payloads)
                actor = fields.pop("actor", None)
                events.append(AuditEvent(at, "signal", attrs.signal_name, actor, fields))
            elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
                events.append(AuditEvent(at, "timer", "timer", None, {}))
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                events.append(AuditEvent(at, "completed", "completed", None, {}))
        return events

    async def anonymised(self, complaint_id: str) -> bool:
        row = await self.session.get(Complaint, complaint_id)
        return row is not None and row.anonymised_at is not None

    async def anonymise_refusal(self, user: User, state: ComplaintState) -> Refusal | None:
        """Why ``user`` may not anonymise this complaint now (None: they may); domain's rule."""
        row = await self.session.get(Complaint, state.complaint_id)
        completed = await load_archive(self.session, state.complaint_id) is not None
        return may_anonymise(user.actor, state.stage, completed, row is not None and row.anonymised_at is not None)

    async def anonymise(self, user: User, complaint_id: str, reason: str) -> DataRequest:
        """A personal data request, carried out in the store, and the complaint's data key
        destroyed: the workflow's history and the archive keep only ciphertext nobody can read."""
        state = await self.state(user, complaint_id)
        refusal = await self.anonymise_refusal(user, state)
        if refusal is not None:
            raise ServiceError.refused(refusal)
        row = await self.session.get(Complaint, complaint_id)
        if row is None:  # closed and archived, yet not in the store: `starter.py reconcile` first
            raise not_found(complaint_id)
        request = await anonymise(self.session, row, user.username, reason, datetime.now(UTC))
        await self.session.commit()
        keys = data_keys_of((await self.client()).data_converter.payload_codec)
        if keys is not None:
            keys.forget(complaint_id)  # this process stops decrypting at once; others within the cache's TTL
        # Its files: unreadable since the key is gone; removed, so not even their hashes stay.
        await asyncio.to_thread(attachments.purge, self.settings.effective_attachment_dir, complaint_id)
        log.info("Personal data of %s anonymised at %s's request (data request %s)", complaint_id, user.username,
                 request.id)  # fmt: skip
        return request

    async def revoke_public_links(self, user: User, complaint_id: str) -> int:
        """Every live link to the complaint's status page stops working (CS, supervisors and
        managers who see the complaint)."""
        await self.state(user, complaint_id)
        if not access.revokes_public_links(user.actor):
            raise no_access(complaint_id)
        revoked = await public_tokens.revoke(self.session, complaint_id, user.username, datetime.now(UTC))
        await self.session.commit()
        log.info("%d status-page links of %s revoked by %s", revoked, complaint_id, user.username)
        return revoked

    async def raw_history(self, user: User, complaint_id: str) -> str:
        await self.state(user, complaint_id)
        history = await self._history(complaint_id)
        return history.to_json()

    @staticmethod
    def _rpc_error(exc: RPCError, complaint_id: str) -> ServiceError:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return not_found(complaint_id)
        if exc.status in UNAVAILABLE_CODES:
            return UNAVAILABLE
        return ServiceError(409, "refused", exc.message)


def _actor_of(staff: Staff) -> Actor:
    return Actor(user=staff.username, role=Role(staff.role), department=staff.department_code)


async def _decode(converter: Any, payloads: Any) -> dict[str, Any]:
    """A payload's fields for the audit trail. Anyone who reaches Temporal can send any value
    (``--input '[1,2]'``): what is not a dict is kept under "value", an ``actor`` that is not
    ``{user, role}`` under "claimed_actor", and an undecodable payload is marked; never an error."""
    if not payloads:
        return {}
    try:
        if any(p.metadata.get("encoding") == REFUSED for p in await converter.payload_codec.decode(list(payloads))):
            return {"refused": "not written by the product for this complaint"}
        values = await converter.decode(list(payloads))
    except Exception:
        return {"value": "<undecodable payload>"}
    value = values[0] if values else {}
    if not isinstance(value, dict):
        return {"value": value}
    fields = {str(key): item for key, item in value.items()}
    actor = fields.get("actor")
    if actor is not None and not (
        isinstance(actor, dict) and all(isinstance(actor.get(k), str) for k in ("user", "role"))
    ):
        fields["claimed_actor"] = fields.pop("actor")
    return fields
