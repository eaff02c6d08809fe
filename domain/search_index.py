"""Custom search attributes kept current by the workflow so the Temporal UI can filter too."""

from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from domain.models import ComplaintState

STATUS = SearchAttributeKey.for_keyword("ComplaintStatus")
CATEGORY = SearchAttributeKey.for_keyword("ComplaintCategory")
DEPARTMENT = SearchAttributeKey.for_keyword("ComplaintDepartment")
CHANNEL = SearchAttributeKey.for_keyword("ComplaintChannel")
DEADLINE = SearchAttributeKey.for_datetime("ComplaintDeadline")
OVERDUE = SearchAttributeKey.for_bool("ComplaintOverdue")
ESCALATION_LEVEL = SearchAttributeKey.for_int("ComplaintEscalationLevel")

ALL = (STATUS, CATEGORY, DEPARTMENT, CHANNEL, DEADLINE, OVERDUE, ESCALATION_LEVEL)

# The names and types the dev server's --search-attribute flag and `temporal operator
# search-attribute create` expect.
CLI_TYPES: dict[str, str] = {
    STATUS.name: "Keyword",
    CATEGORY.name: "Keyword",
    DEPARTMENT.name: "Keyword",
    CHANNEL.name: "Keyword",
    DEADLINE.name: "Datetime",
    OVERDUE.name: "Bool",
    ESCALATION_LEVEL.name: "Int",
}


def index_of(state: ComplaintState) -> list[tuple[SearchAttributeKey[Any], Any]]:
    """What the Temporal UI filters on for this state (None: unset)."""
    return [
        (STATUS, state.stage.value),
        (CHANNEL, state.channel.value),
        (CATEGORY, state.category.value if state.category else None),
        (DEPARTMENT, state.department),
        (DEADLINE, state.deadline),
        (OVERDUE, state.overdue),
        (ESCALATION_LEVEL, state.escalation_level),
    ]


def at_start(state: ComplaintState) -> TypedSearchAttributes:
    """The index a new complaint's workflow starts with, so its intake needs no upsert."""
    return TypedSearchAttributes(
        [SearchAttributePair(key, value) for key, value in index_of(state) if value is not None]
    )


def updates(state: ComplaintState, current: TypedSearchAttributes | None = None) -> list[SearchAttributeUpdate[Any]]:
    """The upserts that bring the index to ``state``: all of them, or only those that differ
    from ``current`` (each upsert is an event and a visibility write on the server)."""
    return [
        key.value_set(value) if value is not None else key.value_unset()
        for key, value in index_of(state)
        if current is None or current.get(key) != value
    ]
