"""Custom search attributes kept current by the workflow so the Temporal UI can filter too."""

from temporalio.common import SearchAttributeKey

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
