"""The queues of each role's landing page ("My work"): what a person of that role acts on next.

The caller adds the reader's scope (``domain.access``), so a queue never shows what its reader
could not open; here, which complaints each queue holds.
"""

from datetime import UTC, datetime

from sqlalchemy import ColumnElement

from domain.access import ASSIGNABLE_ROLES
from domain.models import Actor
from domain.vocabulary import Role, Stage
from store import scopes
from store.tables import Complaint

QUEUE_LIMIT = 100


def work_queues(actor: Actor, now: datetime | None = None) -> list[tuple[str, ColumnElement[bool]]]:
    """(title msgid, condition) for each queue of ``actor``'s role; first, for everyone who may be
    assigned a complaint, those assigned to them."""
    now = now or datetime.now(UTC)
    assigned = [("Assigned to me", (Complaint.assignee == actor.user) & scopes.is_open())]
    return (assigned if actor.role in ASSIGNABLE_ROLES else []) + _role_queues(actor, now)


def _role_queues(actor: Actor, now: datetime) -> list[tuple[str, ColumnElement[bool]]]:
    # Department staff and supervisors act on their own department's complaints (the transition
    # table's scope), even where they may see more (a CS supervisor sees every complaint).
    mine = Complaint.department_code == actor.department
    match actor.role:
        case Role.CS_AGENT:
            return [
                ("To verify", Complaint.stage == Stage.RECEIVED),
                ("Ready to reply", Complaint.stage == Stage.READY_TO_REPLY),
            ]
        case Role.DEPARTMENT_STAFF:
            return [("To resolve", mine & (Complaint.stage == Stage.IN_PROGRESS)),
                    ("To close", mine & (Complaint.stage == Stage.REPLIED))]  # fmt: skip
        case Role.SUPERVISOR:
            return [("Escalated", mine & (Complaint.stage == Stage.ESCALATED)),
                    ("Awaiting signature", mine & (Complaint.stage == Stage.AWAITING_SIGNATURE))]  # fmt: skip
        case _:
            return [("Overdue and due soon", scopes.overdue(now) | scopes.due_soon(now))]
