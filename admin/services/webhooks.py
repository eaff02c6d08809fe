"""Webhooks in (issue 14): Chatwoot's livechat events and a generic signed intake.

Both are signed the same way, HMAC-SHA256 over ``timestamp + "." + body`` sent as
``sha256=<hex>`` beside the timestamp (Chatwoot: ``X-Chatwoot-Signature`` and
``X-Chatwoot-Timestamp``; ours: ``X-Signature`` and ``X-Timestamp``). A stale timestamp or a
wrong signature is 401; the same signed request again within the window is refused (409); the
signature is compared in constant time. Filing and threading are idempotent by the sender's own
ids (a conversation, a message, an external id), so a redelivery re-signed by the sender files
or adds nothing new. A customer's message for a complaint whose follow-up has ended files the one
complaint that follows it (intake.follow_on, the rule mail follows too), and the later messages
naming the ended one (the same conversation, the same complaint id) go onto that one. Nothing
personal is logged: ids and outcomes only.

A Chatwoot message's files (screenshots, recordings) are fetched from the configured Chatwoot
only (intake.chatwoot_files), checked as every other file and stored encrypted under the
complaint, on the message's ``customer_message``; a message with files and no text is taken
too. A file not taken (not fetched, over a limit, not an allowed type) never loses the message:
its text says which file and why, in the catalogue's Vietnamese (the words stored, as the other
texts the intake writes). A redelivered message already on the complaint is not fetched again.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from admin.errors import UNAVAILABLE, ServiceError
from admin.i18n import gettext
from admin.services.complaints import UNAVAILABLE_CODES
from config.settings import Settings
from domain.models import MAX_FILES_TAKEN, AttachmentRef, ComplaintIntake, Customer
from domain.vocabulary import Channel, Language
from intake.chatwoot_files import RemoteFile, fetch_files, remote_files
from intake.customer_messages import MessageOutcome, MessageRefused
from intake.filing import IntakeRefused, complaint_state
from intake.follow_on import NewComplaint, add_or_file_anew, follow_on_key
from intake.long_text import LongText
from store import webhook_deliveries
from store.attachments import AttachmentRefused, AttachmentStore, check
from store.tables import Complaint

log = logging.getLogger("admin.webhooks")
# The sender's retry is safe: the same ids file and add nothing twice.
FILING_UNKNOWN = ServiceError(
    503,
    "outcome_unknown",
    "the workflow service went away while filing; send the event again (it is never filed twice)",
)
# A longer text than the workflow state takes is shortened there, its full text kept as a file
# (intake.long_text); this bounds the request itself.
MAX_BODY = 256 * 1024
# Complaints that follow one another for one conversation or complaint id, each after a whole
# reopen window: a bound on the walk, never reached in practice.
MAX_FOLLOW_ONS = 50
SIGNATURE_PREFIX = "sha256="
# The text of a livechat message that is only files, and the line before the files not taken
# (stored data, in Vietnamese as the other texts the intake writes: intake.mail_intake.FILES_TEXT).
FILES_TEXT = "(Tệp đính kèm gửi qua chat trực tuyến)"
LEFT_OUT = "Tệp đính kèm không nhận được:"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender puts in its header (also what the docs and tests compute)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def check_signature(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime, max_age: timedelta
) -> None:
    """401 unless ``signature`` is ``secret``'s over this timestamp and body and the timestamp
    (Unix seconds) is within ``max_age`` of now, either way (a clock ahead is as suspect)."""
    if not timestamp or not signature:
        raise ServiceError(401, "unsigned", "the request carries no signature or no timestamp")
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ServiceError(401, "bad_timestamp", "the timestamp is not a Unix time in seconds") from exc
    if abs(now - sent) > max_age:
        raise ServiceError(401, "stale", f"the timestamp is more than {int(max_age.total_seconds())} s from now")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.strip().encode()):
        raise ServiceError(401, "bad_signature", "the signature does not match the body")


def parse_json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise ServiceError(413, "too_large", f"body: at most {MAX_BODY} bytes", field="body")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError(422, "invalid", "body: not valid JSON", field="body") from exc
    if not isinstance(data, dict):
        raise ServiceError(422, "invalid", "body: must be a JSON object", field="body")
    return data


class WebhookComplaint(BaseModel):
    """A complaint filed through the generic webhook; ``external_id`` is its intake key."""

    model_config = ConfigDict(extra="forbid")
    external_id: str = Field(min_length=1, max_length=200)
    channel: Channel
    customer: Customer
    subject: str = Field("", max_length=200)
    body: str
    received_at: AwareDatetime | None = None


class WebhookMessage(BaseModel):
    """What the customer added to a complaint; ``message_id`` makes a redelivery add it once."""

    model_config = ConfigDict(extra="forbid")
    complaint_id: str = Field(min_length=1, max_length=20)
    text: str
    message_id: str = Field(min_length=1, max_length=200)
    via: Channel = Channel.WEB
    reopen_requested: bool = False


@dataclass(frozen=True)
class Outcome:
    outcome: str  # filed, already_filed, added, ignored (follow_up_ended: internal, never answered)
    complaint_id: str | None = None


class WebhookService:
    def __init__(self, session: AsyncSession, client: Any, settings: Settings, files: AttachmentStore) -> None:
        self.session, self._client, self.settings, self.files = session, client, settings, files
        self.long_text = LongText.of(settings, files)

    async def client(self) -> Client:
        client: Client = await self._client()
        return client

    # -- the generic intake -------------------------------------------------------------------

    async def generic(self, timestamp: str | None, signature: str | None, body: bytes) -> Outcome:
        secret = self.settings.webhook_secret
        if not secret:
            raise ServiceError(503, "webhook_off", "the webhook intake is off: set COMPLAINTS_WEBHOOK_SECRET")
        check_signature(secret, timestamp, signature, body, datetime.now(UTC), self.settings.webhook_max_age)
        data = parse_json(body)
        try:
            request: WebhookComplaint | WebhookMessage = (
                WebhookMessage.model_validate(data) if "complaint_id" in data else WebhookComplaint.model_validate(data)
            )
        except ValidationError as exc:
            raise ServiceError.invalid(exc) from exc
        assert signature is not None
        async with self._claimed(signature):
            if isinstance(request, WebhookMessage):
                return await self._thread(
                    request.complaint_id,
                    request.text,
                    request.via,
                    request.message_id,
                    self._generic_follow_on(request),
                    reopen_requested=request.reopen_requested,
                )
            fields = request.model_dump(exclude={"external_id", "body"})
            key = f"webhook:{request.external_id}"
            return await self._file(lambda body: ComplaintIntake(**fields, body=body, intake_key=key),
                                    request.body, "webhook")  # fmt: skip

    def _generic_follow_on(self, request: "WebhookMessage") -> NewComplaint:
        """The complaint a message files for an ended one: the customer as that one had them
        (from the store), the channel the message came by."""

        async def new_complaint(earlier: str, body: str) -> ComplaintIntake:
            row = await self.session.get(Complaint, earlier)
            if row is None:
                raise ServiceError(404, "not_found", f"no complaint {earlier}")
            customer = Customer(name=row.customer_name, email=row.customer_email, phone=row.customer_phone,
                                address=row.customer_address, language=Language(row.language))  # fmt: skip
            return ComplaintIntake(channel=request.via, customer=customer, body=body,
                                   intake_key=follow_on_key("webhook-message", earlier))  # fmt: skip

        return new_complaint

    # -- Chatwoot -----------------------------------------------------------------------------

    async def chatwoot(self, timestamp: str | None, signature: str | None, token: str | None, body: bytes) -> Outcome:
        secret, url_token = self.settings.chatwoot_webhook_secret, self.settings.chatwoot_url_token
        if secret:
            check_signature(secret, timestamp, signature, body, datetime.now(UTC), self.settings.webhook_max_age)
        elif url_token:
            if not token or not hmac.compare_digest(token.encode(), url_token.encode()):
                raise ServiceError(401, "bad_token", "the webhook address carries no or a wrong token")
        else:
            raise ServiceError(
                503,
                "webhook_off",
                "the Chatwoot intake is off: set COMPLAINTS_CHATWOOT_WEBHOOK_SECRET (or COMPLAINTS_CHATWOOT_URL_TOKEN)",
            )
        data = parse_json(body)
        event = data.get("event")
        if not isinstance(event, str):
            raise ServiceError(422, "invalid", "event: missing", field="event")
        if not secret:  # unsigned: no replay window to keep; idempotency alone guards redeliveries
            return await self._chatwoot_event(event, data)
        assert signature is not None
        async with self._claimed(signature):
            return await self._chatwoot_event(event, data)

    async def _chatwoot_event(self, event: str, data: dict[str, Any]) -> Outcome:
        if event in ("conversation_created", "conversation_updated"):
            conversation, message = data, _last_incoming(data.get("messages"))
        elif event == "message_created":
            conversation, message = _object(data, "conversation"), data
            # Only what the customer wrote: no agent reply, private note or activity line.
            if not _incoming(data.get("message_type")) or data.get("private") is True:
                return Outcome("ignored")
        else:
            return Outcome("ignored")
        if not self._labelled(conversation):
            return Outcome("ignored")
        inbox_id, conversation_id = _ident(conversation, "inbox_id"), _ident(conversation, "id")
        # Display ids count per account: with the inbox (a global id) the key names one conversation.
        key = f"chatwoot:inbox:{inbox_id}:conversation:{conversation_id}"
        text, remote = _text(message), remote_files(message)
        customer = _customer(conversation, conversation_id)

        def intake(body: str, intake_key: str = key) -> ComplaintIntake:
            return ComplaintIntake(
                channel=Channel.LIVECHAT,
                customer=customer,
                subject=f"Livechat #{conversation_id}",
                body=body,
                intake_key=intake_key,
            )

        filed = await self._file(
            intake, text or f"Khiếu nại qua livechat (Chatwoot, cuộc trò chuyện #{conversation_id}).", "chatwoot"
        )
        if message is None or not (text or remote):
            return filed
        message_id = f"chatwoot:message:{_ident(message, 'id')}"
        files: list[tuple[str, bytes]] = []
        if remote and not (filed.outcome == "already_filed" and await self._has(str(filed.complaint_id), message_id)):
            files, left_out = await self._fetch(remote)
            if left_out:
                text = f"{text or FILES_TEXT}\n\n{LEFT_OUT}\n" + "\n".join(left_out)
        text = text or FILES_TEXT

        # Only a new message files the complaint that follows an ended one: a conversation event
        # carries again the last message, which may be one the ended complaint already has.
        async def new_complaint(earlier: str, body: str) -> ComplaintIntake:
            return intake(body, follow_on_key(key, earlier))

        # Every message of the customer is threaded under its Chatwoot id (the first one is also
        # the complaint's description): a redelivery, or the first message met again in a later
        # event, adds nothing.
        added = await self._thread(str(filed.complaint_id), text, Channel.LIVECHAT, message_id,
                                   new_complaint if event == "message_created" else None, files=files)  # fmt: skip
        return filed if filed.outcome == "filed" or added.outcome == "follow_up_ended" else added

    async def _has(self, complaint_id: str, message_id: str) -> bool:
        """The message is on the complaint already (a redelivery): its files need no fetching.
        Not known (the query failed): False, and fetching again is harmless (content-addressed
        files, the message added once)."""
        try:
            state = await complaint_state((await self.client()).get_workflow_handle(complaint_id))
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            log.info("Webhook: state of %s not read (%s); its files are fetched", complaint_id, type(exc).__name__)
            return False
        return any(m.message_id == message_id for m in state.messages)

    async def _fetch(self, remote: list[RemoteFile]) -> tuple[list[tuple[str, bytes]], list[str]]:
        """The message's files we take (fetched and of an allowed type, each once), and a
        sentence (Vietnamese, the catalogue's) for each one not taken."""
        if len(remote) > MAX_FILES_TAKEN:  # (Chatwoot itself allows 15 per message)
            log.info("Webhook: %d livechat file(s) over %d left out", len(remote) - MAX_FILES_TAKEN, MAX_FILES_TAKEN)
        fetched = await fetch_files(remote[:MAX_FILES_TAKEN], self.settings.chatwoot_url,
                                    max_bytes=self.settings.attachment_max_bytes,
                                    message_max_bytes=self.settings.message_max_bytes)  # fmt: skip
        refused, taken, seen = list(fetched.refused), [], set()
        for name, data in fetched.files:
            try:
                check(data, name, self.settings.attachment_max_bytes)
            except AttachmentRefused as exc:
                refused.append(exc)
                continue
            if data not in seen:
                seen.add(data)
                taken.append((name, data))
        if refused:
            log.info("Webhook: %d livechat file(s) not taken (address, size or type)", len(refused))
        return taken, [gettext("vi", r.msgid, **r.params) for r in refused]

    async def _keep(self, complaint_id: str, files: list[tuple[str, bytes]]) -> list[AttachmentRef]:
        """The files stored under ``complaint_id`` (checked already; one whose complaint's data
        was erased is left out: the message is then refused or goes to the complaint after it)."""
        refs = []
        for name, data in files:
            try:
                refs.append(await self.files.save(complaint_id, data, name))
            except AttachmentRefused:
                log.info("Webhook: a livechat file not stored under %s", complaint_id)
        return refs

    def _labelled(self, conversation: dict[str, Any]) -> bool:
        labels = conversation.get("labels")
        wanted = self.settings.chatwoot_label.casefold()
        return isinstance(labels, list) and any(isinstance(x, str) and x.casefold() == wanted for x in labels)

    # -- shared -------------------------------------------------------------------------------

    def _claimed(self, signature: str) -> "_Claim":
        return _Claim(self.session, signature, self.settings.webhook_max_age * 2)

    async def _file(self, intake_of: Callable[[str], ComplaintIntake], body: str, source: str) -> Outcome:
        """File ``intake_of(text)``; a body longer than the workflow state takes is filed shortened,
        its full text following as the complaint's first message (intake.long_text)."""
        try:
            filed = await self.long_text.file(await self.client(), self.settings, intake_of, body)
        except ValidationError as exc:
            raise ServiceError.invalid(exc) from exc
        except IntakeRefused as exc:
            raise ServiceError(422, "invalid", str(exc), field=exc.field) from exc
        except MessageRefused as exc:  # the full text's message, on the complaint just filed
            raise ServiceError.from_code(exc.code, str(exc)) from exc
        except RPCError as exc:
            raise (FILING_UNKNOWN if exc.status in UNAVAILABLE_CODES else UNAVAILABLE) from exc
        log.info("Webhook (%s) filed %s (new: %s)", source, filed.complaint_id, filed.created)
        return Outcome("filed" if filed.created else "already_filed", filed.complaint_id)

    async def _thread(
        self,
        complaint_id: str,
        text: str,
        via: Channel,
        message_id: str,
        new_complaint: NewComplaint | None,
        *,
        reopen_requested: bool = False,
        files: list[tuple[str, bytes]] | None = None,
    ) -> Outcome:
        """Add the customer's message to ``complaint_id``, or, its follow-up ended, to the
        complaint that follows it (filed now by ``new_complaint``, or found filed), and so on
        down the line: the message ends on the newest complaint, once. ``files`` (checked
        already) are stored under the complaint the message is added to, and carried by it."""
        created = False
        for _ in range(MAX_FOLLOW_ONS):
            try:
                refs = await self._keep(complaint_id, files or [])
                taken = await add_or_file_anew(
                    await self.client(),
                    self.settings,
                    complaint_id,
                    text,
                    via,
                    message_id=message_id,
                    new_complaint=new_complaint,
                    reopen_requested=reopen_requested,
                    attachments=refs,
                    long_text=self.long_text,
                )
            except ValidationError as exc:
                raise ServiceError.invalid(exc) from exc
            except MessageRefused as exc:
                raise ServiceError.from_code(exc.code, str(exc)) from exc
            except IntakeRefused as exc:
                raise ServiceError(422, "invalid", str(exc), field=exc.field) from exc
            except RPCError as exc:
                raise (FILING_UNKNOWN if exc.status in UNAVAILABLE_CODES else UNAVAILABLE) from exc
            if taken.threaded:
                log.info("Webhook added a customer message to %s", complaint_id)
                return Outcome("filed" if created else "added", complaint_id)
            if taken.added is MessageOutcome.UNKNOWN_COMPLAINT:
                raise ServiceError(404, "not_found", f"no complaint {complaint_id}")
            if taken.complaint_id == complaint_id:  # ended, and nothing to file (no new message)
                return Outcome("follow_up_ended", complaint_id)
            log.info("Webhook: %s has ended; %s follows it (new: %s)", complaint_id, taken.complaint_id, taken.created)
            # Reopening is asked of the ended complaint only; the one that follows is new.
            complaint_id, created, reopen_requested = taken.complaint_id, created or taken.created, False
        raise RuntimeError(f"more than {MAX_FOLLOW_ONS} complaints follow one another from {message_id!r}")


class _Claim:
    """The signature claimed for the request's duration; released if the request failed, so the
    sender's retry of the same request (Temporal was down) is not taken for a replay."""

    def __init__(self, session: AsyncSession, signature: str, keep: timedelta) -> None:
        self.session, self.signature, self.keep = session, signature, keep

    async def __aenter__(self) -> None:
        if not await webhook_deliveries.claim(self.session, self.signature, datetime.now(UTC), self.keep):
            raise ServiceError(409, "replayed", "this signed request was already received")

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            await self.session.rollback()
            await webhook_deliveries.release(self.session, self.signature)


# -- reading Chatwoot's payloads (Message#webhook_data, Conversation#webhook_data) -----------------


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise ServiceError(422, "invalid", f"{name}: missing or not an object", field=name)
    return value


def _ident(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ServiceError(422, "invalid", f"{name}: missing or not a number", field=name)
    return int(value)


def _incoming(message_type: object) -> bool:
    # "incoming" in a message's webhook data; 0 in the push data a conversation's messages carry.
    return message_type in ("incoming", 0)


def _last_incoming(messages: object) -> dict[str, Any] | None:
    if not isinstance(messages, list):
        return None
    found = [m for m in messages if isinstance(m, dict) and _incoming(m.get("message_type")) and not m.get("private")]
    return found[-1] if found else None


def _text(message: dict[str, Any] | None) -> str:
    content = message.get("content") if message else None
    return content.strip() if isinstance(content, str) else ""


def _customer(conversation: dict[str, Any], conversation_id: int) -> Customer:
    """The contact of the conversation (meta.sender), keeping only the contact details that are
    valid: a livechat visitor often has no name, e-mail or phone."""
    meta = conversation.get("meta")
    sender = meta.get("sender") if isinstance(meta, dict) else None
    sender = sender if isinstance(sender, dict) else {}
    name = sender.get("name") if isinstance(sender.get("name"), str) else ""
    fields: dict[str, Any] = {"name": (name or "").strip()[:200] or f"Khách livechat #{conversation_id}"}
    for field, source in (("email", "email"), ("phone", "phone_number")):
        value = sender.get(source)
        if isinstance(value, str) and value.strip():
            try:
                Customer.model_validate({"name": "x", field: value})
            except ValidationError:
                continue
            fields[field] = value.strip()
    return Customer(**fields)
