"""Closed vocabularies of the complaint process (statuses, roles, channels, categories)."""

from enum import StrEnum


class Stage(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    ESCALATED = "escalated"
    AWAITING_SIGNATURE = "awaiting_signature"
    READY_TO_REPLY = "ready_to_reply"
    REPLIED = "replied"
    CLOSED = "closed"


OPEN_STAGES: frozenset[Stage] = frozenset(s for s in Stage if s is not Stage.CLOSED)


class Outcome(StrEnum):
    RESOLVED = "resolved"
    RESOLVED_ON_SPOT = "resolved_on_spot"
    REJECTED = "rejected"


class Role(StrEnum):
    CS_AGENT = "cs_agent"
    DEPARTMENT_STAFF = "department_staff"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    ADMIN = "admin"
    # The workflow itself (timers) acts as this role in the log; no person holds it.
    SYSTEM = "system"


class Channel(StrEnum):
    LIVECHAT = "livechat"
    PHONE = "phone"
    EMAIL = "email"
    POST = "post"
    IN_PERSON = "in_person"
    WEB = "web"


class Category(StrEnum):
    SERVICE_QUALITY = "service_quality"
    TECHNICAL = "technical"
    BILLING = "billing"
    SALES = "sales"
    STAFF_CONDUCT = "staff_conduct"
    OTHER = "other"


class Priority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


# Most pressing first: queues list complaints in this order, then by the soonest deadline.
PRIORITY_ORDER: tuple[Priority, ...] = (Priority.URGENT, Priority.HIGH, Priority.NORMAL)


class ReplyMethod(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    LIVECHAT = "livechat"
    IN_PERSON = "in_person"


class SupervisorChoice(StrEnum):
    APPROVE = "approve"
    RETURN = "return"
    REROUTE = "reroute"


class Language(StrEnum):
    VI = "vi"
    EN = "en"


# Default routing when the store's (editable) routing table has no rule.
DEFAULT_ROUTING: dict[Category, str] = {
    Category.SERVICE_QUALITY: "CS",
    Category.TECHNICAL: "TECH",
    Category.BILLING: "BILLING",
    Category.SALES: "SALES",
    Category.STAFF_CONDUCT: "CS",
    Category.OTHER: "CS",
}

CS_DEPARTMENT = "CS"
