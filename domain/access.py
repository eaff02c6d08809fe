"""Who sees which complaints, and when a complaint is overdue or due soon: one definition each.

Every reader calls these: the workflow's validators (through the transition table), the API,
the pages, the dashboard, the queues and the mail viewer. The store renders the same rules in
SQL (``store.scopes``), and a test holds the two to the same answers.
"""

from datetime import datetime, timedelta

from domain.models import Actor, ComplaintState
from domain.vocabulary import CS_DEPARTMENT, Role, Stage

# Roles whose work spans every department: CS takes in and answers every complaint, the
# manager is over all of them, the administrator looks after the system (and decides nothing).
ALL_DEPARTMENT_ROLES = frozenset({Role.CS_AGENT, Role.MANAGER, Role.ADMIN, Role.SYSTEM})

DUE_SOON = timedelta(days=3)
"""An open complaint with less than this left before its deadline is "due soon"."""


def sees_all(actor: Actor) -> bool:
    """CS (any role in its department), the manager, administrators and the system see every
    complaint; department staff and supervisors see their own department's."""
    return actor.role in ALL_DEPARTMENT_ROLES or actor.department == CS_DEPARTMENT


def visible_department(actor: Actor) -> str | None:
    """The one department whose complaints ``actor`` sees, or None when they see all."""
    return None if sees_all(actor) else (actor.department or "")


def can_access_department(actor: Actor, department: str | None) -> bool:
    """May ``actor`` see (and, as the transition table allows, act on) a complaint of ``department``."""
    return sees_all(actor) or actor.department == department


def can_access(actor: Actor, state: ComplaintState) -> bool:
    return can_access_department(actor, state.department)


def reads_all_mail(actor: Actor) -> bool:
    """The local mail catcher holds every customer's mail: only those who see all complaints read it."""
    return sees_all(actor) and actor.role is not Role.SYSTEM


def reads_raw_history(actor: Actor) -> bool:
    """The workflow's raw history and the Temporal UI are for those who audit: supervisors,
    managers and administrators (scope still applies to each complaint)."""
    return actor.role in (Role.SUPERVISOR, Role.MANAGER, Role.ADMIN)


def revokes_public_links(actor: Actor) -> bool:
    """Who may cut off a customer's status-page links (one forwarded to the wrong person): the
    customer's contacts (CS), supervisors and the manager; the complaint's scope applies too."""
    return actor.role in (Role.CS_AGENT, Role.SUPERVISOR, Role.MANAGER)


def is_overdue(stage: Stage | str, overdue_flag: bool, deadline: datetime, now: datetime) -> bool:
    """Open and past its deadline: the breach timer has set the flag, or the deadline has passed
    and the timer has not fired yet."""
    return stage != Stage.CLOSED and (overdue_flag or deadline < now)


def is_due_soon(stage: Stage | str, overdue_flag: bool, deadline: datetime, now: datetime) -> bool:
    """Open, not overdue, and less than :data:`DUE_SOON` left."""
    return stage != Stage.CLOSED and not overdue_flag and now <= deadline < now + DUE_SOON


def urgency(stage: Stage | str, overdue_flag: bool, deadline: datetime, now: datetime) -> str:
    """``late``, ``soon`` or ``ok`` (``closed`` for a closed complaint): the countdown's colour."""
    if stage == Stage.CLOSED:
        return "closed"
    if is_overdue(stage, overdue_flag, deadline, now):
        return "late"
    return "soon" if is_due_soon(stage, overdue_flag, deadline, now) else "ok"


def sla_badges(
    stage: Stage | str,
    overdue_flag: bool,
    deadline: datetime,
    first_response_due: datetime | None,
    warned: bool,
    now: datetime,
) -> list[str]:
    """The SLA badges of a complaint in a list: ``first_response_due`` or
    ``first_response_breached`` while it waits for its first response (received), ``warned`` once
    the warning point (day 15) has passed, ``overdue`` once the deadline has."""
    if stage == Stage.CLOSED:
        return []
    badges = []
    if stage == Stage.RECEIVED and first_response_due is not None:
        badges.append("first_response_breached" if first_response_due < now else "first_response_due")
    if is_overdue(stage, overdue_flag, deadline, now):
        badges.append("overdue")
    elif warned:
        badges.append("warned")
    return badges


# Roles that work on complaints, and so may be assigned one (the administrator decides nothing).
ASSIGNABLE_ROLES = frozenset({Role.CS_AGENT, Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.MANAGER})


def may_be_assigned(staff: Actor, department: str | None) -> bool:
    """May ``staff`` (an active staff member) be given a complaint of ``department``: a working
    role whose scope covers it. Department staff and supervisors of another department may not;
    with no department yet (just received), only those who see all complaints."""
    return staff.role in ASSIGNABLE_ROLES and can_access_department(staff, department)
