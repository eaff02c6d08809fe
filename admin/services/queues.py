"""The queues of each role's landing page ("My work"): what a person of that role acts on next.

The caller adds the reader's scope (``domain.access``), so a queue never shows what its reader
could not open; here, which complaints each queue holds.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from domain.models import Actor
from domain.vocabulary import Role, Stage
from store import scopes
from store.tables import Complaint

QUEUE_LIMIT = 100
# The queue of complaints waiting for their first response: due by its target, not the 20 days.
TO_VERIFY = "To verify"


def work_queues(actor: Actor, now: datetime | None = None) -> list[tuple[str, ColumnElement[bool]]]:
    """(title msgid, condition) for each queue of ``actor``'s role."""
    now = now or datetime.now(UTC)
    # Department staff and supervisors act on their own department's complaints (the transition
    # table's scope), even where they may see more (a CS supervisor sees every complaint).
    mine = Complaint.department_code == actor.department
    match actor.role:
        case Role.CS_AGENT:
            return [
                (TO_VERIFY, Complaint.stage == Stage.RECEIVED),
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


def queue_order(title: str) -> list[ColumnElement[Any] | InstrumentedAttribute[Any]]:
    """Most pressing first (priority), then the soonest due time: the first-response target in
    the queue that gives the first response, else the deadline."""
    due = Complaint.first_response_due if title == TO_VERIFY else Complaint.deadline
    return [scopes.priority_rank(), due, Complaint.id]
