"""The complaint's steps as activities: each projects one state change into the store, writes
one complaint-log row and queues its mails, all in one transaction and idempotently."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail_send import MailRejected, MailUnavailable, build_message, send_message
from config.settings import Settings
from correspondence.context import complaint_context, customer_message_context
from correspondence.rendering import render_letter, render_mail
from domain.customer_view import LINKED_MAILS, status_path
from domain.lifecycle import assign_department
from domain.models import ComplaintState
from domain.steps import Activity, Audience, MailRequest, StepInput, StepResult
from domain.vocabulary import CS_DEPARTMENT, Language, Outcome, Role
from store import projection, public_tokens
from store.engine import transaction
from store.tables import Staff

log = logging.getLogger(__name__)
DELIVERED = "delivered"  # heartbeat detail: the SMTP server accepted this attempt's message


class ComplaintActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    # --- the steps ---

    @activity.defn(name=Activity.RECEIVE.value)
    async def receive(self, step: StepInput) -> StepResult:
        return await self._step(step)

    @activity.defn(name=Activity.VERIFY.value)
    async def verify(self, step: StepInput) -> StepResult:
        return await self._step(step)

    @activity.defn(name=Activity.ROUTE.value)
    async def route(self, step: StepInput) -> StepResult:
        """Pick the department (asked for, or the routing table's), work out the routed state
        and project it; the workflow takes the routing's log entry from the result as it is."""
        request = step.route_request()
        async with transaction(self._sessions) as session:
            department = request.requested_department
            if department is None:
                if step.state.category is None:
                    raise ApplicationError("cannot route a complaint without a category", non_retryable=True)
                department = await projection.department_for(session, step.state.category)
            routed = assign_department(step.state, department, request.actor, request.at, request.reason)
            result = await self._write(session, step.model_copy(update={"state": routed, "entry": routed.log[-1]}))
        return result.model_copy(update={"department": department, "route_entry": routed.log[-1]})

    @activity.defn(name=Activity.RESOLVE.value)
    async def resolve(self, step: StepInput) -> StepResult:
        return await self._step(step)

    @activity.defn(name=Activity.ESCALATE.value)
    async def escalate(self, step: StepInput) -> StepResult:
        return await self._step(step)

    @activity.defn(name=Activity.REPLY.value)
    async def reply(self, step: StepInput) -> StepResult:
        """Email replies are mailed; phone, livechat and in-person contacts are logged; a written
        complaint's supervisor-signed reply is issued as a letter and stored."""
        async with transaction(self._sessions) as session:
            if step.state.reply_method == "letter":
                await self._issue_letter(session, step)
            return await self._write(session, step)

    @activity.defn(name=Activity.CLOSE.value)
    async def close(self, step: StepInput) -> StepResult:
        async with transaction(self._sessions) as session:
            if step.state.outcome is Outcome.RESOLVED:
                await projection.add_lesson(session, step.state, step.entry.seq, step.entry.actor.user, step.entry.at)
            return await self._write(session, step)

    @activity.defn(name=Activity.RECORD.value)
    async def record(self, step: StepInput) -> StepResult:
        return await self._step(step)

    @activity.defn(name=Activity.DELIVER_MAIL.value)
    async def deliver_mail(self, message_id: str) -> None:
        """Send one queued mail, never twice: not after it was sent, and not after an attempt that
        was stopped (worker killed) once the message was being transferred. Such a mail is
        marked ``sent_unconfirmed`` for staff to check rather than risk a duplicate."""
        async with transaction(self._sessions) as session:
            mail = await projection.get_mail(session, message_id)
            if mail is None:
                raise ApplicationError(f"no queued mail {message_id}", non_retryable=True)
            if mail.status in ("sent", "sent_unconfirmed", "failed", "bounced"):
                return
            if mail.status == "sending" and DELIVERED in activity.info().heartbeat_details:
                # The server accepted it; only our bookkeeping was cut short (worker killed, store down).
                await projection.mark_mail(session, message_id, status="sent", error=None, at=datetime.now(UTC))
                return
            if mail.status == "sending":
                await projection.mark_mail(
                    session, message_id, status="sent_unconfirmed", at=None, attempt=False,
                    error="the sending worker stopped during the transfer; delivery presumed, not confirmed",
                )  # fmt: skip
                return
            message = build_message(
                sender=self._settings.mail_from,
                to=list(mail.recipients),
                subject=mail.subject,
                text=mail.body_text,
                html=mail.body_html,
                message_id=mail.message_id,
                headers={"X-Complaint-Id": mail.complaint_id},
            )

        async def before_data() -> None:
            await self._mark(message_id, "sending", None, attempt=False)

        try:
            await send_message(self._settings, message, before_data=before_data)
        except MailUnavailable as exc:
            await self._mark(message_id, "pending", str(exc))
            raise  # retried with backoff by the workflow's retry policy
        except MailRejected as exc:
            await self._mark(message_id, "failed", str(exc))
            raise ApplicationError(str(exc), type="MailRejected", non_retryable=True) from exc
        # Recorded with Temporal at once (a heartbeat, no store lock to wait for): a retry after a
        # kill or a store outage from here on knows the mail went out and does not send it again.
        activity.heartbeat(DELIVERED)
        await self._mark_patiently(message_id, "sent", sent_at=datetime.now(UTC))

    async def _mark_patiently(self, message_id: str, status: str, sent_at: datetime) -> None:
        """The store may be restarting: retry in place rather than fail an attempt that delivered."""
        for delay in (0.5, 1, 2, 4, 4):
            try:
                await self._mark(message_id, status, None, sent_at=sent_at)
                return
            except (OperationalError, InterfaceError, ConnectionError, OSError) as exc:
                log.warning("Recording %s as %s failed (%s); retrying", message_id, status, exc)
                await asyncio.sleep(delay)
        await self._mark(message_id, status, None, sent_at=sent_at)  # a last try; else the retry sees DELIVERED

    # --- shared machinery ---

    async def _mark(
        self, message_id: str, status: str, error: str | None, sent_at: datetime | None = None, attempt: bool = True
    ) -> None:
        async with transaction(self._sessions) as session:
            await projection.mark_mail(session, message_id, status=status, error=error, at=sent_at, attempt=attempt)

    async def _step(self, step: StepInput) -> StepResult:
        async with transaction(self._sessions) as session:
            return await self._write(session, step)

    async def _write(self, session: AsyncSession, step: StepInput) -> StepResult:
        state = step.state
        await projection.project_complaint(session, state, step.intake_key)
        await projection.append_log(session, state.complaint_id, step.entry, state.stage.value)
        ids = [mid for request in step.mails if (mid := await self._queue_mail(session, step, request))]
        return StepResult(message_ids=ids, department=state.department)

    async def _queue_mail(self, session: AsyncSession, step: StepInput, request: MailRequest) -> str | None:
        state = step.state
        if request.audience is Audience.CUSTOMER:
            if not state.customer.email:
                return None  # no address: the contact is in the log; nothing to mail
            recipients, names, language = [state.customer.email], state.customer.name, state.customer.language
        else:
            staff = await self._staff_for(session, request, state)
            if request.audience is Audience.HANDLER:  # who noted the customer's call knows already
                staff = [s for s in staff if s.username != step.entry.actor.user]
            if not staff:
                log.warning("No staff to mail for %s of %s", request.purpose, state.complaint_id)
                return None
            recipients = [s.email for s in staff if s.email]
            names, language = ", ".join(s.full_name for s in staff), Language.VI
        message_id = f"<{state.complaint_id}.{step.entry.seq}.{request.purpose}@{self._settings.mail_domain}>"
        status_url = None
        if request.audience is Audience.CUSTOMER and request.purpose in LINKED_MAILS:
            if await projection.get_mail(session, message_id) is not None:
                return message_id  # queued by an earlier attempt, with its link: no second token
            # A fresh token in the same transaction as the mail that carries it: a retried step
            # either finds both or neither.
            token = public_tokens.new_token()
            await public_tokens.keep(session, state.complaint_id, token, public_tokens.MAIL, step.entry.at)
            status_url = self._settings.public_url.rstrip("/") + status_path(state.complaint_id, token)
        rendered = render_mail(request.purpose, language, self._context(step, names, status_url))
        await projection.enqueue_mail(
            session,
            message_id=message_id,
            complaint_id=state.complaint_id,
            purpose=request.purpose,
            recipients=recipients,
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            created_at=step.entry.at,
        )
        return message_id

    async def _staff_for(self, session: AsyncSession, request: MailRequest, state: ComplaintState) -> list[Staff]:
        """Recipients by audience; an escalation reaches the manager from level 2 or on a breach."""
        department = state.department or CS_DEPARTMENT
        if request.audience is Audience.ASSIGNEE:
            return await projection.active_staff(session, state.assignee) if state.assignee else []
        if request.audience is Audience.HANDLER:
            if state.assignee and (assignee := await projection.active_staff(session, state.assignee)):
                return assignee
            # Nobody (still active) on it: the department's people who work on complaints.
            roles = [Role.CS_AGENT, Role.DEPARTMENT_STAFF, Role.SUPERVISOR]
            return [s for s in await projection.staff_with_roles(session, roles, department) if s.role != Role.MANAGER]
        if request.audience is Audience.CS_SUPERVISOR:
            return await projection.staff_with_roles(session, [Role.SUPERVISOR], CS_DEPARTMENT)
        if request.audience is Audience.DEPARTMENT:
            roles = [Role.DEPARTMENT_STAFF, Role.SUPERVISOR]
            return [s for s in await projection.staff_with_roles(session, roles, department) if s.role != Role.MANAGER]
        roles = [Role.SUPERVISOR]
        if request.purpose == "breach" or state.escalation_level >= 2:
            roles.append(Role.MANAGER)
        found = await projection.staff_with_roles(session, roles, department)
        return [s for s in found if s.role in {r.value for r in roles}]

    def _context(self, step: StepInput, recipient_name: str, status_url: str | None = None) -> dict[str, Any]:
        reason = step.entry.detail.get("reason") or step.entry.detail.get("instructions")
        context = complaint_context(step.state, self._settings, recipient_name, reason, status_url)
        if step.entry.action == "customer_message":
            context |= customer_message_context(step.state, step.entry.seq)
        return context

    async def _issue_letter(self, session: AsyncSession, step: StepInput) -> None:
        signer_username = step.state.signed_by or step.entry.actor.user
        signer = await session.scalar(select(Staff).where(Staff.username == signer_username))
        context = self._context(step, step.state.customer.name) | {
            "signer_name": signer.full_name if signer else signer_username,
            "signer_title": (signer.title if signer else None) or "",
            "signed_at": step.entry.at,
        }
        html = render_letter(context, step.state.customer.language)
        await projection.add_letter(
            session, step.state.complaint_id, step.entry.seq, signer_username, step.entry.at, html
        )

    def all(self) -> list[Any]:
        return [
            self.receive,
            self.verify,
            self.route,
            self.resolve,
            self.escalate,
            self.reply,
            self.close,
            self.record,
            self.deliver_mail,
        ]
