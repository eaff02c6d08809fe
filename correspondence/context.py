"""What mails and letters say about a complaint: the one context their templates read."""

from typing import Any

from config.settings import Settings
from domain.models import ComplaintState


def complaint_context(
    state: ComplaintState,
    settings: Settings,
    recipient_name: str,
    reason: str | None = None,
    status_url: str | None = None,
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
        # The customer's link to the public status page (receipt and closing mails only).
        "status_url": status_url,
    }
