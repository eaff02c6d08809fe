"""Adding what a customer said to their complaint: the ``customer_message`` decision, taken by
the ``system`` actor for the customer's own channels (a reply by mail, the status page, livechat).

Decisions are accepted only when the product made them (issue 12): ``client`` must be the
product's client (``temporal_client.connection.connect``), whose codec encrypts the update for
this complaint. Idempotent by ``message_id`` (a mail's Message-ID, a webhook's event id): the
update id is derived from it, and the workflow adds a message id it already holds once, so the
same mail delivered twice (a retried poll, a redelivery) adds one message.
"""

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.models import SYSTEM_ACTOR, AttachmentRef, ComplaintState, CustomerMessage
from domain.vocabulary import Channel
from store.attachments import GONE, AttachmentRefused

if TYPE_CHECKING:
    from intake.long_text import LongText

DECISION = "customer_message"


class MessageOutcome(StrEnum):
    ADDED = "added"  # on the complaint, once (also when this message id was already there)
    # The complaint's follow-up has ended (closed and its reopen window over): a new message is
    # a new matter, for the caller to file as a new complaint.
    FOLLOW_UP_ENDED = "follow_up_ended"
    UNKNOWN_COMPLAINT = "unknown_complaint"


@dataclass(frozen=True)
class MessageAdded:
    complaint_id: str
    outcome: MessageOutcome
    state: ComplaintState | None = None  # after the message (ADDED only)


class MessageRefused(ValueError):
    """The workflow refused the message (its transition-table code and reason)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def update_id(complaint_id: str, message_id: str | None) -> str:
    """The update's id: one per (complaint, message id), so Temporal itself answers a repeated
    delivery with the first one's result. Hashed: a Message-ID can be long and is not ours."""
    if message_id is None:
        return f"{DECISION}:{uuid.uuid4()}"
    digest = hashlib.sha256(f"{complaint_id}\0{message_id}".encode()).hexdigest()[:32]
    return f"{DECISION}:{digest}"


async def add_customer_message(
    client: Client,
    complaint_id: str,
    text: str,
    via: Channel,
    *,
    reopen_requested: bool = False,
    message_id: str | None = None,
    attachments: Sequence[AttachmentRef] = (),
    long_text: "LongText | None" = None,
) -> MessageAdded:
    """Add the customer's ``text`` (arrived ``via``) to complaint ``complaint_id``.

    With ``long_text`` (every channel of the product passes it), a text over its limit is
    shortened and its full text stored as the message's first file (intake.long_text), before
    anything reaches Temporal.

    Raises ``pydantic.ValidationError`` for a payload the model refuses (empty text, too long),
    ``MessageRefused`` if the workflow refuses it, and ``RPCError`` if Temporal is unreachable
    (nothing, or the whole message, was applied: calling again with the same ``message_id`` is safe)."""
    if long_text is not None:
        try:
            text, full = await long_text.message(complaint_id, text)
        except AttachmentRefused as refused:  # the full text cannot be kept under this complaint
            # Erased (its key shredded): its follow-up is over, the words are filed anew by the
            # caller; not a complaint id at all: there is no such complaint.
            ended = refused.msgid == GONE
            return MessageAdded(
                complaint_id, MessageOutcome.FOLLOW_UP_ENDED if ended else MessageOutcome.UNKNOWN_COMPLAINT
            )
        if full is not None:
            attachments = [full, *(a for a in attachments if a.sha256 != full.sha256)]
    payload = CustomerMessage(
        actor=SYSTEM_ACTOR,
        text=text,
        via=via,
        attachments=list(attachments),
        reopen_requested=reopen_requested,
        message_id=message_id,
    )
    handle = client.get_workflow_handle(complaint_id)
    try:
        state = await handle.execute_update(
            DECISION, payload, id=update_id(complaint_id, payload.message_id), result_type=ComplaintState
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            raise MessageRefused(cause.type or "refused", cause.message) from exc
        raise MessageRefused("refused", str(cause or exc)) from exc
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        try:
            described = await handle.describe()
        except RPCError as gone:
            if gone.status is RPCStatusCode.NOT_FOUND:  # never existed, or past the retention
                return MessageAdded(complaint_id, MessageOutcome.UNKNOWN_COMPLAINT)
            raise
        if described.status is not WorkflowExecutionStatus.RUNNING:
            return MessageAdded(complaint_id, MessageOutcome.FOLLOW_UP_ENDED)
        raise
    return MessageAdded(complaint_id, MessageOutcome.ADDED, state)
