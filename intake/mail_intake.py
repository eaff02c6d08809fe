"""One inbound mail taken in: the single path behind the IMAP poll and the SMTP gateway.

``MailIntake.take_in(raw, source)`` parses the message (intake.mail_message) and does what its
kind calls for, once per intake key (the Message-ID, or a content hash without one):

- a new complaint is filed on the ``email`` channel with the intake key (intake.filing: a
  second delivery finds the first complaint, never a second one);
- a reply naming one of our Message-IDs or ``[KN-XXXXXX]`` becomes a ``customer_message`` on
  that complaint (intake.customer_messages); one naming a complaint that does not exist, or
  whose follow-up has ended, is filed as a new complaint;
- a bounce (DSN) about one of our mails marks that outbox mail ``bounced`` with the reason;
- noise (auto-replies, lists, bulk, our own mail, delayed-delivery notices) is recorded only;
- an oversized message is recorded only; the caller refuses it (SMTP: 552; IMAP: a reply).

A mail's attachments are kept (store.attachments: encrypted under the complaint's key, sniffed,
size-limited): those of a reply on its ``customer_message``, those of a new complaint on a
``customer_message`` added right after filing (the intake model carries no files), idempotent by
``<intake key>:attachments``. A file not on the allow-list or over the limit is left out (the mail
is still taken in) and counted in the log; the full mail is not kept elsewhere. A text longer than
the workflow state takes (COMPLAINTS_MESSAGE_TEXT_MAX_BYTES) is shortened there and kept whole as a
``.txt`` attachment (intake.long_text), never cut and dropped.

The outcome is recorded in ``mail_inbox`` (store.mail_inbox) after the action: a message seen
again (a retry, the other way in, a rescan after UIDVALIDITY changed) gets the recorded
outcome back. Every action is idempotent by the intake key itself, so a crash between the
action and the record repeats nothing. Logs name a hash of the intake key and complaint ids only.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from config.settings import Settings
from domain.models import MAX_FILES_TAKEN, AttachmentRef, ComplaintIntake, Customer
from domain.vocabulary import Channel
from intake.customer_messages import MessageRefused, add_customer_message
from intake.filing import MAX_BACKDATE, IntakeRefused
from intake.follow_on import add_or_file_anew
from intake.long_text import LongText
from intake.mail_message import MailKind, MailMessage, parse_with_settings
from store import mail_inbox
from store.attachments import AttachmentRefused, AttachmentStore
from store.engine import transaction

log = logging.getLogger(__name__)

MAX_SUBJECT = 200
EMPTY_BODY = "(Thư không có nội dung)"  # the complaint's text must not be empty
FILES_TEXT = "(Tệp đính kèm theo thư của khách hàng)"  # the message that carries a new complaint's files
# domain.models.CustomerMessage.attachments allows 20: one is kept for a long mail's full text


class Outcome(StrEnum):
    FILED = "filed"  # a new complaint (or the one this key had already filed)
    THREADED = "threaded"  # a customer message on an existing complaint
    BOUNCE = "bounce"  # marked our outbox mail bounced
    NOISE = "noise"  # auto-reply, list, bulk, our own mail, a bounce about nothing of ours
    OVERSIZED = "oversized"  # over COMPLAINTS_MESSAGE_MAX_BYTES: refused
    REFUSED = "refused"  # cannot be filed (no usable sender address)
    POISON = "poison"  # failed again and again: skipped and flagged, recorded for a person


@dataclass(frozen=True)
class TakenIn:
    intake_key: str
    outcome: Outcome
    complaint_id: str | None
    reason: str
    again: bool = False  # this key had been taken in before: nothing was done this time
    reply_to: str | None = None  # oversized: where the refusal goes (None: nobody to tell)


def key_ref(intake_key: str) -> str:
    """How logs name a message: a Message-ID may carry the sender's address, its hash does not."""
    return "mail:" + hashlib.sha256(intake_key.encode()).hexdigest()[:12]


def thread_target(message: MailMessage) -> str | None:
    """The complaint a message replies to (pure): parse_mail names it from In-Reply-To or
    References naming one of our Message-IDs, or from ``[KN-XXXXXX]`` in the subject."""
    return message.complaint_id if message.kind is MailKind.REPLY else None


def received_at(message: MailMessage, now: datetime) -> datetime:
    """The Date header when it is plausible (not ahead of us, not beyond the backdating bound),
    else now: the sender's clock is not trusted further than that."""
    date = message.date
    if date is None or date > now or date < now - MAX_BACKDATE + timedelta(hours=1):
        return now
    return date.astimezone(UTC)


def mail_text(message: MailMessage) -> str:
    """What the customer wrote, in full (intake.long_text shortens it for the workflow)."""
    return (message.text or message.subject).strip() or EMPTY_BODY


def complaint_intake(message: MailMessage, now: datetime, body: str) -> ComplaintIntake:
    """The complaint a new mail files, with ``body`` as its text (the mail's, shortened to what a
    complaint's text may be). Raises ValidationError when the sender is unusable."""
    sender = message.sender
    address = sender.address if sender else ""
    name = (sender.name if sender and sender.name else address.partition("@")[0]).strip()[:MAX_SUBJECT]
    return ComplaintIntake(
        channel=Channel.EMAIL,
        customer=Customer(name=name or address, email=address or None),
        subject=message.subject[:MAX_SUBJECT],
        body=body,
        received_at=received_at(message, now),
        intake_key=message.intake_key,
    )


class MailIntake:
    def __init__(self, client: Client, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.client, self.sessions, self.settings = client, sessions, settings
        self.attachments = AttachmentStore.of(settings, sessions)
        self.long_text = LongText.of(settings, self.attachments)

    def parse(self, raw: bytes) -> MailMessage:
        return parse_with_settings(raw, self.settings)

    async def take_in(self, raw: bytes, source: str) -> TakenIn:
        return await self.take_in_parsed(self.parse(raw), source)

    async def take_in_parsed(self, message: MailMessage, source: str) -> TakenIn:
        key = message.intake_key
        async with self.sessions() as session:
            before = await mail_inbox.taken(session, key)
        if before is not None:
            return TakenIn(key, Outcome(before.outcome), before.complaint_id, before.reason, again=True)
        outcome, complaint_id, reason = await self._act(message)
        async with transaction(self.sessions) as session:
            first = await mail_inbox.record(
                session, key, source=source, outcome=outcome.value, complaint_id=complaint_id, reason=reason
            )
        log.info("%s from %s: %s %s (%s)", key_ref(key), source, first.outcome, first.complaint_id or "", first.reason)
        reply_to = message.sender.address if outcome is Outcome.OVERSIZED and message.sender else None
        return TakenIn(key, Outcome(first.outcome), first.complaint_id, first.reason, reply_to=reply_to)

    async def _act(self, message: MailMessage) -> tuple[Outcome, str | None, str]:
        kind = message.kind
        if kind in (MailKind.AUTO_REPLY, MailKind.OWN):
            return Outcome.NOISE, None, message.reason
        if kind is MailKind.BOUNCE:
            return await self._bounce(message)
        if kind is MailKind.OVERSIZED:
            return Outcome.OVERSIZED, message.complaint_id, message.reason
        target = thread_target(message)
        if target is not None:
            return await self._thread(target, message)
        return await self._file(message, "new")

    async def _bounce(self, message: MailMessage) -> tuple[Outcome, str | None, str]:
        report = message.bounce
        if report is None or not report.original_message_id:
            return Outcome.NOISE, None, "bounce_unmatched"
        if not report.failed:
            return Outcome.NOISE, None, "bounce_delayed"
        async with transaction(self.sessions) as session:
            complaint_id = await mail_inbox.mark_bounced(session, report.original_message_id, report.reason)
        if complaint_id is None:
            return Outcome.NOISE, None, "bounce_not_ours"
        return Outcome.BOUNCE, complaint_id, report.status or "bounced"

    async def _thread(self, complaint_id: str, message: MailMessage) -> tuple[Outcome, str | None, str]:
        """Hand the reply to its complaint as a ``customer_message`` by the system actor (once per
        intake key: intake.customer_messages). A complaint that does not exist, or whose
        follow-up has ended (intake.follow_on: the new one names it), gets the mail as a new
        complaint, so the customer's words are never dropped."""

        async def new_complaint(_earlier: str, body: str) -> ComplaintIntake:
            return complaint_intake(message, datetime.now(UTC), body)

        try:
            refs = await self._keep_files(complaint_id, message)
            taken = await add_or_file_anew(self.client, self.settings, complaint_id, mail_text(message),
                                           Channel.EMAIL, message_id=message.intake_key, attachments=refs,
                                           new_complaint=new_complaint, unknown_files_anew=True,
                                           long_text=self.long_text)  # fmt: skip
        except MessageRefused as refused:
            log.warning("%s: %s refused the customer message (%s); filed as a new complaint",
                        key_ref(message.intake_key), complaint_id, refused.code)  # fmt: skip
            return await self._file(message, "thread_refused")
        except (ValidationError, IntakeRefused) as exc:
            return _refused(exc)
        if taken.threaded:
            return Outcome.THREADED, complaint_id, message.reason
        return await self._filed(message, taken.complaint_id, taken.created, taken.added.value)

    async def _file(self, message: MailMessage, reason: str) -> tuple[Outcome, str | None, str]:
        now = datetime.now(UTC)
        try:
            filed = await self.long_text.file(self.client, self.settings,
                                              lambda body: complaint_intake(message, now, body),
                                              mail_text(message))  # fmt: skip
        except (ValidationError, IntakeRefused) as exc:
            return _refused(exc)
        return await self._filed(message, filed.complaint_id, filed.created, reason)

    async def _filed(
        self, message: MailMessage, complaint_id: str, created: bool, reason: str
    ) -> tuple[Outcome, str | None, str]:
        """A complaint filed for the mail: its files on a message of their own."""
        refs = await self._keep_files(complaint_id, message)
        if refs:
            await add_customer_message(self.client, complaint_id, FILES_TEXT, Channel.EMAIL,
                                       message_id=f"{message.intake_key}:attachments", attachments=refs)  # fmt: skip
        return Outcome.FILED, complaint_id, reason if created else f"{reason}_already_filed"

    async def _keep_files(self, complaint_id: str, message: MailMessage) -> list[AttachmentRef]:
        """The mail's files we take, stored under the complaint; the others left out."""
        refs: list[AttachmentRef] = []
        left_out = 0
        for part in message.attachments:
            if len(refs) == MAX_FILES_TAKEN:
                left_out += 1
                continue
            try:
                ref = await self.attachments.save(complaint_id, part.data, part.filename)
            except AttachmentRefused:
                left_out += 1
                continue
            if all(r.sha256 != ref.sha256 for r in refs):
                refs.append(ref)
        if left_out:
            log.info("%s: %d attachment(s) left out (type, size or count)", key_ref(message.intake_key), left_out)
        return refs


def _refused(exc: ValidationError | IntakeRefused) -> tuple[Outcome, str | None, str]:
    """A mail that cannot be filed (no usable sender, a date out of bounds): the field named."""
    field = exc.field if isinstance(exc, IntakeRefused) else ".".join(str(p) for p in exc.errors()[0]["loc"])
    return Outcome.REFUSED, None, f"invalid_{field or 'intake'}"
