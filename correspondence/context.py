"""What mails and letters say about a complaint: the one context their templates read."""

from typing import Any

from config.settings import Settings
from correspondence.quoting import trim_quoted
from domain.models import ComplaintState, Direction
from domain.vocabulary import Stage


def complaint_context(
    state: ComplaintState, settings: Settings, recipient_name: str, reason: str | None = None
) -> dict[str, Any]:
    return {
        "complaint_id": state.complaint_id,
        "customer_name": state.customer.name,
        "customer_address": state.customer.address,
        "subject": state.subject,
        "body": state.body,
        "channel": state.channel.value,
        "received_at": state.received_at,
        "deadline": state.deadline,
        "department": state.department,
        "message": state.reply_message or "",
        "root_cause": state.root_cause,
        "lessons_learned": state.lessons_learned,
        "reason": reason,
        "escalation_level": state.escalation_level,
        "recipient_name": recipient_name,
        "hotline": settings.hotline,
        "company_name": settings.company_name,
        "company_address": settings.company_address,
        "staff_url": None,
        "reopen_until": state.reopen_until,
    }


def customer_message_context(state: ComplaintState, seq: int) -> dict[str, Any]:
    """The customer message added at log entry ``seq``, for the mail that tells staff about it:
    their own words (quoted history and signature trimmed), how it came, and whether it came
    after closing with a request to reopen."""
    message = next(m for m in reversed(state.messages) if m.seq == seq and m.direction is Direction.IN)
    return {
        "customer_text": trim_quoted(message.text).shown,
        "via": message.via.value,
        "noted_by": message.noted_by,
        "after_closing": state.stage is Stage.CLOSED,
        "reopen_requested": message.reopen_requested and state.stage is Stage.CLOSED,
        "attachment_count": len(message.attachments),
    }
