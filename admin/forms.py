"""Decision forms derived from the decision payload models: the models are the one description
of each decision's fields, for the workflow, the API and these forms alike."""

import types
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel

from admin import i18n
from admin.errors import ServiceError
from domain.transitions import TRANSITIONS
from domain.vocabulary import Category, Channel, Priority, ReplyMethod, SupervisorChoice

# field name -> label msgid (in the catalogue)
LABELS = {
    "summary": "Summary", "category": "Category", "priority": "Priority", "department": "Department",
    "reason": "Reason", "duplicate_of": "Duplicate of", "agreement": "Agreement", "cause": "Cause",
    "resolution": "Resolution", "within_authority": "Within authority", "reply_draft": "Reply draft",
    "decision": "Decision", "instructions": "Instructions", "approved": "Approved", "comment": "Comment",
    "method": "Method", "message": "Message", "root_cause": "Root cause", "lessons_learned": "Lessons learned",
    "preventive_action": "Preventive action", "text": "Text", "name": "Name", "email": "Email",
    "phone": "Phone", "address": "Address", "body": "Body", "channel": "Channel", "received_at": "Received on",
    "username": "Username", "password": "Password", "assignee": "Assignee",
    "unassigned": "Previous assignee", "via": "Channel", "reopen_requested": "The customer asks to reopen",
    "attachments": "Attachments", "message_id": "Message ID",
}  # fmt: skip
VOCABULARY: dict[type[Enum], str] = {Category: "category", Priority: "priority", ReplyMethod: "reply_method",
              SupervisorChoice: "supervisor_choice", Channel: "channel"}  # fmt: skip
LONG_FIELDS = {"summary", "reason", "agreement", "cause", "resolution", "reply_draft", "instructions", "comment",
               "message", "root_cause", "lessons_learned", "preventive_action", "text"}  # fmt: skip
# Fields staff never type: files come from their upload, a message id from the channel that delivered it.
NOT_ON_FORMS = {"attachments", "message_id"}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    # text, textarea, select, bool, department, complaint (one of the customer's other complaints),
    # assignee (a picker of staff)
    kind: str
    required: bool
    vocabulary: str | None = None


def _inner(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def fields(decision: str) -> list[Field]:
    model: type[BaseModel] = TRANSITIONS[decision].payload
    found = []
    for name, info in model.model_fields.items():
        if name == "actor" or name in NOT_ON_FORMS:
            continue
        kind, vocabulary = "text", None
        annotation = _inner(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            kind, vocabulary = "select", VOCABULARY.get(annotation)
        elif annotation is bool:
            kind = "bool"
        elif name == "department":
            kind = "department"
        elif name == "duplicate_of":
            kind = "complaint"
        elif name == "assignee":
            kind = "assignee"
        elif name in LONG_FIELDS:
            kind = "textarea"
        found.append(Field(name, LABELS.get(name, name), kind, info.is_required(), vocabulary))
    return found


def payload_from_form(decision: str, form: dict[str, str]) -> dict[str, Any]:
    """The decision's body from a submitted form: empty optional fields are left out."""
    body: dict[str, Any] = {}
    for field in fields(decision):
        value = form.get(field.name, "")
        if field.kind == "bool":
            body[field.name] = value in ("true", "on", "1")
        elif value.strip() or field.required:
            body[field.name] = value
    return body


# What was wrong with a field (a pydantic error type), as staff read it: msgids of the catalogue.
PROBLEMS = {
    "missing": "This field is required.",
    "string_too_short": "This field is required.",
    "string_too_long": "Too long: at most %(max_length)s characters.",
    "enum": "Choose a value from the list.",
    "literal_error": "Choose a value from the list.",
    "string_pattern_mismatch": "This value does not have the expected form.",
    "bool_parsing": "Choose yes or no.",
    "datetime_parsing": "Enter a date and a time.",
    "datetime_from_date_parsing": "Enter a date and a time.",
    "value_error": "This value is not valid.",
}
# Rules of the domain models that concern one field (their messages, as the models raise them).
RULES = {
    "department is required to reroute": ("department", "Choose the department to send it to."),
    "comment is required when the signature is refused": ("comment", "Say why the signature is refused."),
    "an email complaint needs the customer's email": ("email", "A complaint by email needs the customer's email."),
    "a written complaint by post needs the customer's address": (
        "address",
        "A complaint by post needs the customer's address.",
    ),
    # intake.filing's refusals of a received date
    "is in the future": ("received_at", "The received date cannot be in the future."),
    "is more than 30 days ago": ("received_at", "The received date is more than 30 days ago."),
    "give a time zone (e.g. +07:00 or Z)": ("received_at", "Enter a date and a time."),
    # the original of a duplicate (admin.services.complaints, domain.transitions)
    "a complaint cannot duplicate itself": ("duplicate_of", "Choose one of the customer's other complaints."),
    "there is no such complaint": ("duplicate_of", "Choose one of the customer's other complaints."),
}


def field_errors(lang: str, refused: ServiceError) -> dict[str, str]:
    """The refusal as {field: message in ``lang``}, to show beside the field (empty if it names none)."""
    problem = refused.problem or {"message": refused.message.partition(": ")[2]}
    rule = RULES.get(str(problem.get("message", "")))
    if rule is not None:
        field, msgid = rule
        return {field: i18n.gettext(lang, msgid)}
    if not refused.field:
        return {}
    field = refused.field.split(".")[-1]
    msgid = PROBLEMS.get(str(problem.get("type")), "This value is not valid.")
    values = {k: v for k, v in problem.items() if k not in ("type", "message")}
    return {field: i18n.gettext(lang, msgid, **values)}
