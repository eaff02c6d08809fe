"""The queues of each role's landing page ("My work"): what a person of that role acts on next.

The caller adds the reader's scope (``domain.access``), so a queue never shows what its reader
could not open; here, which complaints each queue holds.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from domain.access import ASSIGNABLE_ROLES
from domain.models import Actor
from domain.vocabulary import Role, Stage
from store import scopes
from store.tables import Complaint

QUEUE_LIMIT = 100
# The queue of complaints waiting for their first response: due by its target, not the 20 days.
TO_VERIFY = "To verify"
# Closed complaints the customer wrote about since (a reopen request among them), within their
# reopen window: CS reads them and reopens or calls back; who has waited longest first.
WROTE_AFTER_CLOSING = "Wrote after closing"


@dataclass(frozen=True)
class QueueCount:
    title: str  # msgid
    count: int

    @property
    def key(self) -> str:
        """A stable name for the page's script: "To verify" -> "to-verify"."""
        return self.title.lower().replace(" ", "-")


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
                (TO_VERIFY, Complaint.stage == Stage.RECEIVED),
                ("Ready to reply", Complaint.stage == Stage.READY_TO_REPLY),
                (WROTE_AFTER_CLOSING, _wrote_after_closing(now)),
            ]
        case Role.DEPARTMENT_STAFF:
            return [("To resolve", mine & (Complaint.stage == Stage.IN_PROGRESS)),
                    ("To close", mine & (Complaint.stage == Stage.REPLIED))]  # fmt: skip
        case Role.SUPERVISOR:
            return [("Escalated", mine & (Complaint.stage == Stage.ESCALATED)),
                    ("Awaiting signature", mine & (Complaint.stage == Stage.AWAITING_SIGNATURE))]  # fmt: skip
        case _:
            return [("Overdue and due soon", scopes.overdue(now) | scopes.due_soon(now))]


def _wrote_after_closing(now: datetime) -> ColumnElement[bool]:
    # Only while it may still be reopened: afterwards its workflow has completed and CS can do
    # nothing on it (a later message files a new complaint).
    return Complaint.wrote_after_closing.is_(True) & (Complaint.stage == Stage.CLOSED) & (Complaint.reopen_until > now)


async def queue_counts(session: AsyncSession, actor: Actor, now: datetime | None = None) -> list[QueueCount]:
    """How many complaints each of ``actor``'s queues holds, within what ``actor`` may open
    (the same conditions as the queues of "My work")."""
    found = []
    for title, where in work_queues(actor, now):
        query = select(func.count()).select_from(Complaint).where(*scopes.visible_to(actor), where)
        found.append(QueueCount(title, int(await session.scalar(query) or 0)))
    return found


def queue_order(title: str) -> list[ColumnElement[Any] | InstrumentedAttribute[Any]]:
    """Most pressing first (priority), then the soonest due time: the first-response target in
    the queue that gives the first response, else the deadline."""
    if title == WROTE_AFTER_CLOSING:
        return [Complaint.last_customer_message_at, Complaint.id]
    due = Complaint.first_response_due if title == TO_VERIFY else Complaint.deadline
    return [scopes.priority_rank(), due, Complaint.id]
