"""Bulk decisions from the complaint list: the same decision, one complaint at a time, each
through ``ComplaintService.decide`` (the transition table, the workflow's validator), so a bulk
action can do nothing a single one could not; each refusal is kept for its complaint.

A new bulk action is one entry in ``BULK_ACTIONS`` (its decision, its form's fields)."""

from dataclasses import dataclass

from admin.errors import ServiceError
from admin.services.complaints import ComplaintService
from admin.users import User
from domain.vocabulary import Role

MAX_BULK = 100  # complaints per bulk action: one page of the list is 50


@dataclass(frozen=True)
class BulkAction:
    decision: str  # a key of domain.transitions.TRANSITIONS
    fields: tuple[str, ...]  # the form's fields, passed to the decision as they are


BULK_ACTIONS: dict[str, BulkAction] = {
    "reroute": BulkAction("reroute", ("department", "reason")),
    # to one person; whether they may work on each complaint (domain.access.may_be_assigned) is
    # checked per complaint, by the decision's own path
    "assign": BulkAction("assign", ("assignee",)),
}
# Who sees the bulk actions on the list; the decision itself still checks each complaint.
BULK_ROLES = frozenset({Role.SUPERVISOR, Role.MANAGER})


@dataclass(frozen=True)
class Outcome:
    complaint_id: str
    refusal: ServiceError | None  # None: done


def may_bulk(user: User) -> bool:
    return user.actor.role in BULK_ROLES


async def apply(
    service: ComplaintService, user: User, name: str, complaint_ids: list[str], form: dict[str, str]
) -> list[Outcome]:
    action = BULK_ACTIONS.get(name)
    if action is None:
        raise ServiceError(404, "unknown_decision", name, page=("This action does not exist.", {}))
    if not may_bulk(user):
        raise ServiceError(403, "wrong_role", "bulk actions are for supervisors and managers")
    ids = list(dict.fromkeys(complaint_ids))  # each once, in the order chosen
    if not ids:
        raise ServiceError(422, "invalid", "complaints: choose at least one", field="complaints")
    if len(ids) > MAX_BULK:
        raise ServiceError(422, "invalid", f"complaints: at most {MAX_BULK} at once", field="complaints")
    body = {field: form.get(field, "") for field in action.fields}
    if action.decision == "assign" and not body["assignee"].strip():
        # Unassigning is one complaint at a time; empty here is a picker left alone.
        page: tuple[str, dict[str, str]] = ("Choose the person to assign.", {})
        raise ServiceError(422, "invalid", "assignee: choose the person to assign", field="assignee", page=page)
    outcomes = []
    for complaint_id in ids:
        try:
            await service.decide(user, complaint_id, action.decision, body)
        except ServiceError as refused:
            outcomes.append(Outcome(complaint_id, refused))
        else:
            outcomes.append(Outcome(complaint_id, None))
    return outcomes
