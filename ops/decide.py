"""``starter.py decide ID DECISION --as USERNAME --input JSON``: a decision taken by an operator
who holds the product's keys, in the name of an existing, active account.

The actor comes from the account in the store, never from the input; the update goes through
the product's client, so it is encrypted for that complaint like the admin's. The workflow's
validator applies the same transition table as for the admin, and its refusal is printed as is.
"""

import json
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.access import may_be_assigned
from domain.models import Actor, Assign, ComplaintState
from domain.transitions import TRANSITIONS
from domain.vocabulary import Role
from store.tables import Complaint, Staff

# Exit codes: what went wrong, for scripts.
DONE, REFUSED, BAD_INPUT, BAD_ACCOUNT, NO_COMPLAINT, UNAVAILABLE = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Outcome:
    code: int
    message: str


async def actor_of(sessions: async_sessionmaker[AsyncSession], username: str) -> Actor | Outcome:
    async with sessions() as session:
        staff = (await session.scalars(select(Staff).where(Staff.username == username))).first()
    if staff is None:
        return Outcome(BAD_ACCOUNT, f"no account {username!r}")
    if not staff.active:
        return Outcome(BAD_ACCOUNT, f"account {username!r} is deactivated")
    return Actor(user=staff.username, role=Role(staff.role), department=staff.department_code)


async def decide(
    client: Client, sessions: async_sessionmaker[AsyncSession], complaint_id: str, name: str, username: str, text: str
) -> Outcome:
    transition = TRANSITIONS.get(name)
    if transition is None:
        return Outcome(BAD_INPUT, f"unknown decision {name!r} (one of: {', '.join(sorted(TRANSITIONS))})")
    try:
        body: Any = json.loads(text)
    except ValueError as exc:
        return Outcome(BAD_INPUT, f"--input is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return Outcome(BAD_INPUT, "--input must be a JSON object")
    if "actor" in body:
        return Outcome(BAD_INPUT, "--input must not name an actor: the decision is taken as --as")
    actor = await actor_of(sessions, username)
    if isinstance(actor, Outcome):
        return actor
    try:
        payload = transition.payload.model_validate({**body, "actor": actor.model_dump()})
    except ValidationError as exc:
        err = exc.errors()[0]
        return Outcome(BAD_INPUT, f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
    if isinstance(payload, Assign) and payload.assignee is not None:
        # The workflow holds no staff directory: the assignee is checked here, as the admin does.
        refused = await _assignee_refusal(client, sessions, complaint_id, payload.assignee)
        if refused is not None:
            return refused
    try:
        state = await client.get_workflow_handle(complaint_id).execute_update(name, payload, result_type=ComplaintState)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError):  # the transition table's code and its reason
            return Outcome(REFUSED, f"refused, {cause.type}: {cause.message}")
        return Outcome(REFUSED, f"refused: {cause or exc}")
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return Outcome(NO_COMPLAINT, f"no complaint {complaint_id}")
        return Outcome(UNAVAILABLE, f"not applied, Temporal answered: {exc.message}")
    return Outcome(DONE, f"{complaint_id}: {name} by {actor.user}; stage {state.stage.value}, version {state.version}")


async def _assignee_refusal(
    client: Client, sessions: async_sessionmaker[AsyncSession], complaint_id: str, username: str
) -> Outcome | None:
    async with sessions() as session:
        staff = await session.scalar(select(Staff).where(Staff.username == username, Staff.active.is_(True)))
        row = (await session.execute(select(Complaint.department_code).where(Complaint.id == complaint_id))).first()
    if staff is None:
        return Outcome(BAD_INPUT, f"assignee: there is no active staff member {username}")
    if row is not None:
        department = row.department_code
    else:  # just filed, not projected yet: the workflow's own view
        try:
            state = await client.get_workflow_handle(complaint_id).query("state", result_type=ComplaintState)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                return Outcome(NO_COMPLAINT, f"no complaint {complaint_id}")
            return Outcome(UNAVAILABLE, f"not applied, Temporal answered: {exc.message}")
        department = state.department
    assignee = Actor(user=staff.username, role=Role(staff.role), department=staff.department_code)
    if not may_be_assigned(assignee, department):
        return Outcome(BAD_INPUT, f"assignee: {username} does not work on this department's complaints")
    return None


def report(outcome: Outcome) -> int:
    print(outcome.message, file=sys.stdout if outcome.code == DONE else sys.stderr)
    return outcome.code
