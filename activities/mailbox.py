"""The mailbox poll's activities: fetch the UIDs above the checkpoint, take one message in,
flag or move what was taken in. One IMAP connection per worker, reused across activities and
opened again after any failure.

Failures of the mailbox, the store, Temporal or the SMTP server are raised and retried by the
workflow's policy for as long as they last. Any other failure of one message is the message's
own (a poison message): after ``POISON_ATTEMPTS`` attempts it is recorded as ``poison`` and
skipped, so it never blocks the mailbox; the workflow then flags it for a person.
"""

import asyncio
import email.utils
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.service import RPCError

from activities.mail_send import MailRejected, MailUnavailable, build_message, send_message
from config.settings import Settings
from correspondence.rendering import render_sender_mail
from domain.mailbox import POISON_ATTEMPTS, FetchRequest, MailBatch, MarkRequest, TakeInRequest, TakeInResult
from domain.steps import Activity
from intake.imap_mailbox import ImapAccount, ImapError, ImapMailbox, ImapMessageGone
from intake.mail_intake import MailIntake, Outcome, key_ref
from intake.mail_message import MailKind, MailMessage, content_key
from store import mail_inbox
from store.engine import transaction

log = logging.getLogger(__name__)

# What an outage looks like (retried without limit), as opposed to a message that breaks us.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    ImapError,
    DBAPIError,
    RPCError,
    MailUnavailable,
    OSError,
    TimeoutError,
)
SOURCE = "imap"


def imap_account(settings: Settings) -> ImapAccount:
    return ImapAccount(
        host=settings.imap_host,
        port=settings.imap_port,
        username=settings.imap_username,
        password=settings.imap_password,
        ca_file=settings.imap_ca_file,
        timeout=settings.imap_timeout.total_seconds(),
        tls=settings.imap_tls,
    )


class MailboxActivities:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, account: ImapAccount | None = None
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._account = account or imap_account(settings)
        self._connection: ImapMailbox | None = None
        self._lock = asyncio.Lock()

    def all(self) -> list[Callable[..., Any]]:
        return [self.fetch, self.take_in, self.mark]

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.logout()

    async def _selected(self) -> tuple[ImapMailbox, int]:
        """The worker's connection with the folder selected afresh (new mail becomes visible and
        the UIDVALIDITY is current); opened again if it was lost."""
        if self._connection is None:
            connection = ImapMailbox(self._account)
            await connection.connect()
            self._connection = connection
        validity = await self._connection.select(self._settings.imap_folder)
        return self._connection, validity

    @activity.defn(name=Activity.MAILBOX_FETCH.value)
    async def fetch(self, request: FetchRequest) -> MailBatch:
        async with self._lock:
            try:
                mailbox, validity = await self._selected()
                after = request.checkpoint.last_uid if request.checkpoint.uidvalidity == validity else 0
                uids = await mailbox.uids_after(after)
            except ImapError:
                await self._drop()
                raise
        if request.checkpoint.uidvalidity not in (None, validity):
            log.warning("Mailbox %s: UIDVALIDITY changed, rescanning", self._settings.imap_folder)
        return MailBatch(uidvalidity=validity, uids=uids[: request.limit])

    def _intake(self) -> MailIntake:
        return MailIntake(activity.client(), self._sessions, self._settings)

    @activity.defn(name=Activity.MAILBOX_TAKE_IN.value)
    async def take_in(self, request: TakeInRequest) -> TakeInResult:
        async with self._lock:
            try:
                mailbox, validity = await self._selected()
                if validity != request.uidvalidity:
                    return TakeInResult(uid=request.uid, outcome="uidvalidity_changed")
                raw = await mailbox.fetch(request.uid)
            except ImapMessageGone:
                return TakeInResult(uid=request.uid, outcome="gone")
            except ImapError:
                await self._drop()
                raise
        intake = self._intake()
        message: MailMessage | None = None
        try:
            message = intake.parse(raw)
            if message.kind is MailKind.OVERSIZED:
                await self._refuse(message)
            taken = await intake.take_in_parsed(message, SOURCE)
        except UNAVAILABLE:
            raise
        except Exception as exc:
            if activity.info().attempt < POISON_ATTEMPTS:
                raise
            key = message.intake_key if message is not None else content_key(raw)
            # The class only: an error's text can quote the message (a validation error, SQL parameters).
            log.error("%s (UID %d) failed %d times with %s: skipped as poison", key_ref(key), request.uid,
                      POISON_ATTEMPTS, type(exc).__name__)  # fmt: skip
            async with transaction(self._sessions) as session:
                first = await mail_inbox.record(
                    session, key, source=SOURCE, outcome=Outcome.POISON.value, complaint_id=None,
                    reason=type(exc).__name__,
                )  # fmt: skip
            return TakeInResult(uid=request.uid, outcome=first.outcome, intake_key=key, complaint_id=first.complaint_id)
        return TakeInResult(
            uid=request.uid, outcome=taken.outcome.value, intake_key=taken.intake_key, complaint_id=taken.complaint_id
        )

    async def _refuse(self, message: MailMessage) -> None:
        """Tell the sender why an oversized message was not taken in (before it is recorded, so a
        crash in between sends the refusal again rather than never)."""
        async with self._sessions() as session:
            if await mail_inbox.taken(session, message.intake_key) is not None:
                return
        sender = message.sender.address if message.sender else ""
        if "@" not in sender:
            return
        settings = self._settings
        digest = hashlib.sha256(message.intake_key.encode()).hexdigest()[:24]
        headers = {"Auto-Submitted": "auto-replied"}
        if message.message_id:
            headers |= {"In-Reply-To": message.message_id, "References": message.message_id}
        mail = render_sender_mail(
            "too_large",
            {
                "size_mb": f"{message.size / 1_048_576:.1f}",
                "limit_mb": f"{settings.message_max_bytes / 1_048_576:g}",
                "hotline": settings.hotline,
                "company_name": settings.company_name,
            },
        )
        refusal = build_message(
            sender=settings.mail_from,
            to=[email.utils.formataddr((message.sender.name if message.sender else "", sender))],
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            message_id=f"<refused.{digest}@{settings.mail_domain}>",
            headers=headers,
        )
        try:
            await send_message(settings, refusal)
        except MailRejected as exc:  # the sender's address is refused for good: nobody to tell
            log.warning("Refusal of oversized %s not sent: %s", key_ref(message.intake_key), type(exc).__name__)

    @activity.defn(name=Activity.MAILBOX_MARK.value)
    async def mark(self, request: MarkRequest) -> None:
        settings = self._settings
        async with self._lock:
            try:
                mailbox, validity = await self._selected()
                if validity != request.uidvalidity:
                    return  # these UIDs now name other messages: leave them alone
                for uid in request.failed:
                    await mailbox.flag(uid, settings.imap_failed_flag)
                for uid in request.taken:
                    if settings.imap_processed == "move":
                        await mailbox.move(uid, settings.imap_processed_folder)
                    else:
                        await mailbox.flag(uid, settings.imap_flag)
            except ImapError:
                await self._drop()
                raise
