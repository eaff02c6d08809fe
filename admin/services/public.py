"""The customer's side (issue 14), behind the public pages: file a complaint from the web form,
show its status to whoever holds its link, and take the customer's satisfaction rating.

No login: a link's token is the only key. Everything shown is picked here, field by field, from
what the customer was told anyway (the stage in their words, the promised dates, the replies sent
to them, and what they wrote themselves): never the log's notes, staff names or departments.

The customer writes back on the same page: information for an open complaint, or, once it is
closed and within its reopen window, a request to reopen. Both are the ``customer_message``
decision of the system actor (intake.customer_messages), keyed by the page form's nonce so that a
form sent twice adds one message; CS confirms a reopen request with the ``reopen`` decision.
Information may carry files, checked and stored as the form's are (store.attachments): the
message holds their refs, so staff see them beside it in the conversation. The customer is never
offered them back: the page names them, and serves no file."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from admin.errors import FILING_UNKNOWN, UNAVAILABLE, ServiceError
from admin.services.complaints import UNAVAILABLE_CODES
from config.settings import Settings
from domain.customer_view import CUSTOMER_REPLY_ACTIONS, CUSTOMER_STAGE, CustomerStage, address_hash
from domain.ids import PREFIX, is_complaint_id
from domain.models import SYSTEM_ACTOR, ComplaintIntake, ComplaintState, Customer, Direction, Rate, Satisfaction
from domain.steps import STATUS_LINK_WORKFLOW, StatusLinkRequest, status_link_workflow_id
from domain.transitions import available_decisions, in_reopen_window, rating_of_this_closing
from domain.vocabulary import Category, Channel, Language, Stage
from intake.customer_messages import MessageOutcome, MessageRefused, add_customer_message
from intake.filing import IntakeRefused, file_complaint
from store import public_tokens
from store.attachments import AttachmentRefused, AttachmentStore
from store.tables import Complaint, ComplaintLog

log = logging.getLogger("admin.public")
QUERY_TIMEOUT = timedelta(seconds=10)


def _not_found() -> ServiceError:
    # One answer for an unknown complaint, a wrong token and a revoked one: no oracle.
    return ServiceError(404, "not_found", "no such page", page=("This page does not exist.", {}))


@dataclass(frozen=True)
class WebComplaint:
    """What the form asks for (already checked by :func:`web_intake`)."""

    name: str
    email: str | None
    phone: str | None
    category: Category
    description: str
    language: Language


@dataclass(frozen=True)
class CustomerReply:
    at: datetime
    method: str  # email, phone, livechat, in_person, or letter (a signed written answer)
    text: str


@dataclass(frozen=True)
class CustomerNote:
    """One message the customer sent us themselves (never one staff noted for them)."""

    at: datetime
    text: str
    reopen_requested: bool
    attachments: list[str]  # the names of the files it carried (shown, never served here)


# The longest message the status page takes (the form's field cap, admin.limits, is above it,
# so a longer one is answered beside the field with what was typed kept).
MAX_MESSAGE = 5_000


@dataclass(frozen=True)
class PublicView:
    complaint_id: str
    stage: CustomerStage
    received_at: datetime
    first_response_due: datetime | None
    deadline: datetime
    subject: str
    body: str
    replies: list[CustomerReply]
    closed_at: datetime | None
    reopen_until: datetime | None
    satisfaction: Satisfaction | None  # the rating of the current closing, if given
    may_rate: bool
    messages: list[CustomerNote]
    may_write: bool  # not closed: the customer can add information
    may_ask_reopen: bool  # closed, within the reopen window, not asked yet
    reopen_requested: bool  # asked, CS has not answered yet


INVALID_CONTACT = {"email": "This e-mail address is not valid.", "phone": "This phone number is not valid."}


def web_intake(form: dict[str, str]) -> WebComplaint | dict[str, str]:
    """The form's fields checked, or {field: msgid of what is wrong} (every field at once)."""
    errors: dict[str, str] = {}
    name = form.get("name", "").strip()
    email = form.get("email", "").strip() or None
    phone = form.get("phone", "").strip() or None
    description = form.get("description", "").strip()
    if not name:
        errors["name"] = "Please enter your name."
    elif len(name) > 200:
        errors["name"] = "Please shorten your name to 200 characters."
    if not email and not phone:
        errors["email"] = "Please give a phone number or an e-mail address, so that we can answer you."
    for field, value in (("email", email), ("phone", phone)):
        if value is None:
            continue
        try:
            Customer.model_validate({"name": "x", field: value})
        except ValidationError:
            errors[field] = (
                "This e-mail address is not valid." if field == "email" else "This phone number is not valid."
            )
    try:
        category = Category(form.get("category", ""))
    except ValueError:
        errors["category"] = "Please choose what your complaint is about."
    if not description:
        errors["description"] = "Please describe your complaint."
    elif len(description) > 10_000:
        errors["description"] = "Please shorten the description to 10,000 characters."
    if errors:
        return errors
    language = Language.EN if form.get("lang") == "en" else Language.VI
    return WebComplaint(name, email, phone, category, description, language)


@dataclass(frozen=True)
class LinkLookup:
    """What the lookup page asks for (checked by :func:`link_lookup`, for form only)."""

    complaint_id: str
    email: str


def link_lookup(form: dict[str, str]) -> LinkLookup | dict[str, str]:
    """The lookup form's fields checked, or {field: msgid}. Only their shape: whether the case
    exists or the address matches is never told (the worker checks, after the page answered)."""
    errors: dict[str, str] = {}
    complaint_id = form.get("complaint_id", "").strip().upper()
    if complaint_id and not complaint_id.startswith(PREFIX):
        complaint_id = PREFIX + complaint_id  # typed without its prefix
    email = form.get("email", "").strip()
    if not is_complaint_id(complaint_id):
        errors["complaint_id"] = "Please enter the case number as in our mail, for example KN-7F3K9Q."
    try:
        Customer.model_validate({"name": "x", "email": email})
    except ValidationError:
        errors["email"] = "This e-mail address is not valid."
    if not email:
        errors["email"] = "Please enter the e-mail address you gave with your complaint."
    return errors or LinkLookup(complaint_id, email)


class PublicService:
    def __init__(self, session: AsyncSession, client: Any, settings: Settings) -> None:
        self.session, self._client, self.settings = session, client, settings

    async def client(self) -> Client:
        client: Client = await self._client()
        return client

    async def file(self, web: WebComplaint, subject: str, intake_key: str, token: str) -> str:
        """File the complaint (once per intake key) and keep its form token's hash; its id."""
        intake = ComplaintIntake(
            channel=Channel.WEB,
            customer=Customer(name=web.name, email=web.email, phone=web.phone, language=web.language),
            subject=subject,
            body=web.description,
            intake_key=intake_key,
        )
        try:
            filed = await file_complaint(await self.client(), self.settings, intake)
        except IntakeRefused as exc:
            raise ServiceError(422, "invalid", str(exc), field=exc.field) from exc
        except RPCError as exc:
            if exc.status in UNAVAILABLE_CODES:
                raise FILING_UNKNOWN from exc
            raise UNAVAILABLE from exc
        await public_tokens.keep(self.session, filed.complaint_id, token, public_tokens.FORM, datetime.now(UTC))
        await self.session.commit()
        log.info("Web form filed %s (new: %s)", filed.complaint_id, filed.created)
        return filed.complaint_id

    async def ask_link(self, lookup: LinkLookup, key: str) -> None:
        """Hand the lookup to the worker (one run per form: its nonce is the run's id) and return:
        the same work whatever the case id and address, so the page's answer and its timing tell
        nothing. Only the address's hash travels (domain.customer_view.address_hash)."""
        request = StatusLinkRequest(
            complaint_id=lookup.complaint_id,
            email_hash=address_hash(lookup.email),
            key=key,
            requested_at=datetime.now(UTC),
        )
        try:
            await (await self.client()).start_workflow(
                STATUS_LINK_WORKFLOW,
                request,
                id=status_link_workflow_id(key),
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            pass  # the same form sent again: asked once
        except RPCError as exc:
            raise UNAVAILABLE from exc

    async def attach(
        self, store: AttachmentStore, complaint_id: str, files: Sequence[tuple[str, bytes]], key: str, text: str
    ) -> None:
        """The form's files, encrypted under the new complaint's key and added as the customer's
        message (once per form: its intake key is the message's id)."""
        refs = await store.save_all(complaint_id, files)
        try:
            await add_customer_message(await self.client(), complaint_id, text, Channel.WEB,
                                       message_id=f"{key}:attachments", attachments=refs)  # fmt: skip
        except MessageRefused as exc:
            raise ServiceError(409, "refused", str(exc)) from exc
        except RPCError as exc:
            if exc.status in UNAVAILABLE_CODES:
                raise FILING_UNKNOWN from exc
            raise UNAVAILABLE from exc

    async def _authorised(self, complaint_id: str, token: str) -> None:
        if (
            len(complaint_id) > 20
            or len(token) > 200
            or not await public_tokens.valid(self.session, complaint_id, token)
        ):
            raise _not_found()

    async def view(self, complaint_id: str, token: str) -> PublicView:
        await self._authorised(complaint_id, token)
        state, projected = await self._state(complaint_id)
        return self._from_state(state, await self._replies(complaint_id, state) if projected else None)

    async def _state(self, complaint_id: str) -> tuple[ComplaintState, bool]:
        """The complaint's state (without its log) and whether it came from the store."""
        row = await self.session.get(Complaint, complaint_id)
        if row is not None and row.anonymised_at is not None:
            raise _not_found()
        if row is None:  # just filed, not projected yet: the workflow's own view
            return await self._query(complaint_id), False
        return ComplaintState.model_validate({**row.state, "log": []}), True

    async def _query(self, complaint_id: str) -> ComplaintState:
        handle = (await self.client()).get_workflow_handle(complaint_id)
        try:
            state: ComplaintState = await asyncio.wait_for(
                handle.query("state", result_type=ComplaintState), QUERY_TIMEOUT.total_seconds()
            )
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise _not_found() from exc
            raise UNAVAILABLE from exc
        except TimeoutError as exc:
            raise UNAVAILABLE from exc
        return state

    async def _replies(self, complaint_id: str, state: ComplaintState) -> list[CustomerReply]:
        """What was answered to the customer, oldest first: the reply entries of the log (the
        message they were sent) and the signed letters (the latest one's text is the state's)."""
        rows = list(
            await self.session.scalars(
                select(ComplaintLog)
                .where(ComplaintLog.complaint_id == complaint_id, ComplaintLog.action.in_(CUSTOMER_REPLY_ACTIONS))
                .order_by(ComplaintLog.seq)
            )
        )
        replies: list[CustomerReply] = []
        for index, row in enumerate(rows):
            detail = row.detail
            if row.action == "reply":
                replies.append(CustomerReply(row.at, str(detail.get("method", "")), str(detail.get("message", ""))))
            elif detail.get("approved") is True:
                latest = all(later.action != "sign_reply" for later in rows[index + 1 :])
                text = (state.reply_message or "") if latest and state.reply_method == "letter" else ""
                replies.append(CustomerReply(row.at, "letter", text))
        return replies

    def _from_state(self, state: ComplaintState, replies: list[CustomerReply] | None = None) -> PublicView:
        rated = rating_of_this_closing(state)
        now = datetime.now(UTC)
        open_window = in_reopen_window(state, now)  # after it the workflow has ended: nothing more
        closed = state.stage is Stage.CLOSED
        # The customer's own words only: a call CS noted for them carries a staff name and CS's wording.
        own = [
            CustomerNote(m.at, m.text, m.reopen_requested, [a.name for a in m.attachments])
            for m in state.messages
            if m.direction is Direction.IN and m.noted_by is None
        ]
        return PublicView(
            complaint_id=state.complaint_id,
            stage=CUSTOMER_STAGE[state.stage],
            received_at=state.received_at,
            first_response_due=state.first_response_due if state.stage is Stage.RECEIVED else None,
            deadline=state.deadline,
            subject=state.subject,
            body=state.body,
            replies=replies or [],
            closed_at=state.closed_at,
            reopen_until=state.reopen_until,
            satisfaction=rated if state.stage is Stage.CLOSED else None,
            may_rate=open_window and "rate" in available_decisions(SYSTEM_ACTOR, state, now),
            messages=own,
            may_write=not closed,
            may_ask_reopen=closed and open_window and not state.reopen_requested,
            reopen_requested=closed and open_window and state.reopen_requested,
        )

    def _follow_up_ended(self) -> ServiceError:
        page = (
            "Your complaint is closed and its reopen window has passed, so it can no longer be reopened or added to "
            "online. Please send a new complaint, or call our hotline %(hotline)s.",
            {"hotline": self.settings.hotline},
        )
        return ServiceError(409, "follow_up_ended", "the reopen window of this complaint has passed", page=page)

    async def write(
        self,
        complaint_id: str,
        token: str,
        text: str,
        message_key: str,
        *,
        reopen: bool,
        store: AttachmentStore,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """The customer's message (``reopen``: a request to reopen, with its reason), added once
        per ``message_key`` (the page form's nonce) as a ``customer_message`` via the web, with
        ``files`` (name, bytes) checked, stored in ``store`` and carried as refs (a refused file:
        422 on ``attachments``, nothing stored or added)."""
        await self._authorised(complaint_id, token)
        text = text.strip()
        if not text:
            raise ServiceError(422, "invalid", "text: empty", field="text")
        if len(text) > MAX_MESSAGE:
            raise ServiceError(422, "too_long_message", "text: too long", field="text")
        state, _ = await self._state(complaint_id)
        closed = state.stage is Stage.CLOSED
        if closed and not in_reopen_window(state, datetime.now(UTC)):
            raise self._follow_up_ended()
        if reopen and not closed:
            raise ServiceError(409, "not_closed", "only a closed complaint can be reopened")
        try:
            # Stored before the message that names them (content-addressed: a form sent twice
            # stores each file once); the message id keeps the message, and so its files, single.
            refs = await store.save_all(complaint_id, files)
        except AttachmentRefused as refused:
            raise ServiceError(422, "attachment_refused", str(refused), field="attachments",
                               page=(refused.msgid, refused.params)) from None  # fmt: skip
        try:
            added = await add_customer_message(
                await self.client(), complaint_id, text, Channel.WEB,
                reopen_requested=reopen, message_id=message_key, attachments=refs,
            )  # fmt: skip
        except ValidationError as exc:
            raise ServiceError(422, "invalid", f"text: {exc.errors()[0]['msg']}", field="text") from exc
        except MessageRefused as exc:
            raise ServiceError.from_code(exc.code, str(exc)) from exc
        except RPCError as exc:
            if exc.status in UNAVAILABLE_CODES:  # may have been added: sending again adds it once
                raise ServiceError(503, "message_unknown", "the message may not have been added") from exc
            raise UNAVAILABLE from exc
        if added.outcome is not MessageOutcome.ADDED:  # the workflow ended meanwhile (window over)
            raise self._follow_up_ended()
        log.info("Status page message on %s (reopen asked: %s, files: %d)", complaint_id, reopen, len(refs))

    async def rate(self, complaint_id: str, token: str, form: dict[str, str]) -> None:
        """The customer's rating, sent as the ``rate`` decision of the system actor."""
        await self._authorised(complaint_id, token)
        try:
            payload = Rate(
                actor=SYSTEM_ACTOR, score=int(form.get("score") or 0), comment=form.get("comment", "").strip() or None
            )
        except ValidationError as exc:
            field = "comment" if any(e["loc"][:1] == ("comment",) for e in exc.errors()) else "score"
            raise ServiceError(422, "invalid", f"{field}: {exc.errors()[0]['msg']}", field=field) from exc
        except ValueError as exc:  # not a number
            raise ServiceError(422, "invalid", "score: choose from 1 to 5", field="score") from exc
        handle = (await self.client()).get_workflow_handle(complaint_id)
        try:
            await handle.execute_update("rate", payload, result_type=ComplaintState)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            code = cause.type if isinstance(cause, ApplicationError) and cause.type else "refused"
            raise ServiceError.from_code(code, str(cause or exc)) from exc
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):  # ended: window over
                raise ServiceError(409, "reopen_window_closed", "the complaint can no longer be rated") from exc
            raise UNAVAILABLE from exc
