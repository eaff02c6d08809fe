"""What the customer sees of their complaint on the public status page (issue 14): four stages
in their words, never the internal ones (escalated, awaiting signature: still "in progress")."""

import hashlib
from enum import StrEnum

from domain.vocabulary import Stage


class CustomerStage(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"
    CLOSED = "closed"


CUSTOMER_STAGE: dict[Stage, CustomerStage] = {
    Stage.RECEIVED: CustomerStage.RECEIVED,
    Stage.IN_PROGRESS: CustomerStage.IN_PROGRESS,
    Stage.ESCALATED: CustomerStage.IN_PROGRESS,
    Stage.AWAITING_SIGNATURE: CustomerStage.IN_PROGRESS,
    Stage.READY_TO_REPLY: CustomerStage.IN_PROGRESS,
    Stage.REPLIED: CustomerStage.REPLIED,
    Stage.CLOSED: CustomerStage.CLOSED,
}

# Log actions whose text the customer was sent: a reply (mail, phone, chat, in person), or the
# signed letter. Everything else in the log (notes, routing, escalations) stays internal.
CUSTOMER_REPLY_ACTIONS = frozenset({"reply", "sign_reply"})

# Customer mails that carry a link to the status page: the receipt (to follow the complaint)
# and the closing (to rate it, and see the answer again).
LINKED_MAILS = frozenset({"acknowledgement", "closing"})


def status_path(complaint_id: str, token: str) -> str:
    return f"/public/complaints/{complaint_id}/{token}"


def address_hash(address: str) -> str:
    """The lookup page's key to an e-mail address: trimmed, case-insensitive, hashed (what is
    typed there travels to the worker as this, never as the address)."""
    return hashlib.sha256(address.strip().lower().encode("utf-8", errors="replace")).hexdigest()
