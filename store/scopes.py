"""The rules of ``domain.access`` as SQL conditions on the complaints table, for lists,
queues and counts. One rendering each; tests/test_scopes.py holds them to the domain's answers."""

from datetime import datetime

from sqlalchemy import ColumnElement, Integer, literal_column, or_

from domain.access import DUE_SOON, visible_department
from domain.models import Actor
from domain.vocabulary import Stage
from store.ranks import PRIORITY_RANK_SQL
from store.tables import Complaint


def visible_to(actor: Actor) -> list[ColumnElement[bool]]:
    """The complaints ``actor`` may see (``domain.access.can_access_department``)."""
    department = visible_department(actor)
    return [] if department is None else [Complaint.department_code == department]


def is_open() -> ColumnElement[bool]:
    return Complaint.stage != Stage.CLOSED.value


def overdue(now: datetime) -> ColumnElement[bool]:
    """``domain.access.is_overdue``: open, and flagged by the breach timer or past its deadline."""
    return is_open() & or_(Complaint.overdue.is_(True), Complaint.deadline < now)


def due_soon(now: datetime) -> ColumnElement[bool]:
    """``domain.access.is_due_soon``: open, not overdue, less than DUE_SOON left."""
    return (
        is_open() & Complaint.overdue.is_(False) & (Complaint.deadline >= now) & (Complaint.deadline < now + DUE_SOON)
    )


def priority_rank() -> ColumnElement[int]:
    """``domain.vocabulary.PRIORITY_ORDER`` as a sort key: 0 for the most pressing; spelt as the
    expression indexes spell it (``store.ranks``), so that they serve the queues' order."""
    return literal_column(f"({PRIORITY_RANK_SQL})", Integer)
