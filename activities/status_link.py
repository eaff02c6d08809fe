"""The lookup page's work, off the request path (workflows/status_link.py): find the complaint a
customer named, check the address they typed against the one on file, and queue a mail with a
fresh status-page link to that address, all in one transaction. Whatever the outcome, the page
answered the same before any of this ran, so nothing here can be told from the outside."""

import hashlib
import hmac
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from config.settings import Settings
from correspondence.context import complaint_context
from correspondence.rendering import render_mail
from domain.customer_view import address_hash, status_path
from domain.models import ComplaintState
from domain.steps import Activity, StatusLinkRequest
from store import projection, public_tokens
from store.engine import transaction
from store.tables import Complaint, OutboxMail

log = logging.getLogger(__name__)
PURPOSE = "status_link"


class _OverLimit(Exception):
    """The complaint has had its link mails for the window: this one is rolled back."""


class StatusLinkActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions, self._settings = sessions, settings

    @activity.defn(name=Activity.QUEUE_STATUS_LINK.value)
    async def queue_status_link(self, request: StatusLinkRequest) -> str:
        """The Message-ID of the queued link mail, or "" when nothing is sent: no such
        complaint (or not projected yet), anonymised, no address on file, another address, or the
        complaint's link mails are at their limit. A retry finds its own mail (and its token)."""
        try:
            async with transaction(self._sessions) as session:
                return await self._queue(session, request)
        except _OverLimit as over:  # its token and mail rolled back
            log.warning("Status link for %s not mailed: its link mails are at the limit", over.args[0])
            return ""

    async def _queue(self, session: AsyncSession, request: StatusLinkRequest) -> str:
        digest = hashlib.sha256(request.key.encode()).hexdigest()[:24]
        message_id = f"<{request.complaint_id}.link.{digest}@{self._settings.mail_domain}>"
        if await projection.get_mail(session, message_id) is not None:
            return message_id  # queued by an earlier attempt, with its token
        # Locked (PostgreSQL) so that two requests at once count each other's mail.
        row = await session.scalar(select(Complaint).where(Complaint.id == request.complaint_id).with_for_update())
        if row is None or row.anonymised_at is not None or not row.customer_email:
            return ""
        if not hmac.compare_digest(address_hash(row.customer_email), request.email_hash):
            return ""
        # A token of its own for each mail (as the receipt's): revocable with the others, and the
        # links mailed before keep working (a stranger who knows a case id cannot end them).
        token = public_tokens.new_token()
        await public_tokens.keep(session, row.id, token, public_tokens.LOOKUP, request.requested_at)
        state = ComplaintState.model_validate({**row.state, "log": []})
        status_url = self._settings.public_url.rstrip("/") + status_path(row.id, token)
        context: dict[str, Any] = complaint_context(state, self._settings, state.customer.name, status_url=status_url)
        rendered = render_mail(PURPOSE, state.customer.language, context)
        await projection.enqueue_mail(
            session,
            message_id=message_id,
            complaint_id=row.id,
            purpose=PURPOSE,
            recipients=[row.customer_email],
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            created_at=request.requested_at,
        )
        # Counted after this mail's own row is written: on SQLite that write holds the store's
        # write lock until commit, on PostgreSQL the complaint's row is locked above; either way
        # requests at once count each other, and one over the limit is rolled back whole.
        since = request.requested_at - self._settings.public_lookup_mail_window
        sent = await session.scalar(
            select(func.count())
            .select_from(OutboxMail)
            .where(
                OutboxMail.complaint_id == row.id,
                OutboxMail.purpose == PURPOSE,
                OutboxMail.created_at >= since,
            )
        )
        if (sent or 0) > self._settings.public_lookup_mail_limit:
            raise _OverLimit(row.id)
        log.info("Status link for %s queued as %s", row.id, message_id)
        return message_id

    def all(self) -> list[Any]:
        return [self.queue_status_link]
