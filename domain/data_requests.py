"""Personal data requests (Law 91/2025/QH15 on personal data protection and Decree
356/2025/ND-CP, which replaced Decree 13/2023/ND-CP on 1 January 2026): who may anonymise a
complaint, when, and what is removed. Statistics (channel, category, department, stages,
dates, escalations) and the lessons (root cause, lessons learned, preventive action) are kept."""

from typing import Any

from domain.models import Actor
from domain.transitions import Refusal, RefusalCode
from domain.vocabulary import Role, Stage

REDACTED = "[đã ẩn danh]"

# Log detail keys that carry no personal data and feed statistics and the lessons register.
KEPT_DETAIL = frozenset(
    {
        "category",
        "priority",
        "department",
        "method",
        "within_authority",
        "decision",
        "approved",
        "root_cause",
        "lessons_learned",
        "preventive_action",
        "timer",
        "level",
        "escalation_level",
        "breaches",
        "channel",
    }
)
# Free text fields of the complaint's view that quote or address the customer.
STATE_TEXT = ("subject", "body", "summary", "reply_message")


def may_anonymise(actor: Actor, stage: Stage, completed: bool, anonymised: bool) -> Refusal | None:
    """A manager's decision, once the complaint is closed for good (reopen window over, so its
    history is archived first): the audit record is complete before the data goes."""
    if actor.role is not Role.MANAGER:
        return Refusal(RefusalCode.WRONG_ROLE, "only a manager may anonymise a customer's personal data")
    if anonymised:
        return Refusal(RefusalCode.WRONG_STAGE, "this complaint is already anonymised")
    if stage is not Stage.CLOSED or not completed:
        return Refusal(
            RefusalCode.WRONG_STAGE,
            "personal data is anonymised only after the complaint is closed and its reopen window has ended",
        )
    return None


def redact_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k in KEPT_DETAIL else REDACTED) for k, v in detail.items()}


def redact_state(view: dict[str, Any]) -> dict[str, Any]:
    """The stored view (``ComplaintState`` as JSON) without the customer's identity or words."""
    redacted = dict(view)
    customer = dict(redacted.get("customer") or {})
    redacted["customer"] = {"name": REDACTED, "email": None, "phone": None, "address": None} | {
        "language": customer.get("language", "vi")
    }
    for name in STATE_TEXT:
        if redacted.get(name):
            redacted[name] = REDACTED
    if isinstance(redacted.get("messages"), list):  # the conversation: the customer's words and ours
        redacted["messages"] = [
            dict(m) | {"text": REDACTED, "message_id": None, "attachments": []} if isinstance(m, dict) else m
            for m in redacted["messages"]
        ]
    if isinstance(redacted.get("resolution"), dict):
        redacted["resolution"] = dict(redacted["resolution"]) | {"reply_draft": REDACTED}
    return redacted
