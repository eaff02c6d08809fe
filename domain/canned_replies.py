"""Canned replies: the placeholders a template may use, and filling them in for one complaint.

A placeholder is a known name in single braces: ``{customer_name}``, ``{case_id}``,
``{agent_name}``, ``{received_date}``. Any other ``{word}`` is refused when the template is
saved (a typo would otherwise reach the customer as it is); a brace that does not wrap a
word (``{``, ``{ }``, ``{1}``) is plain text and stays as written.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.sla import VN_TZ

# name -> msgid of its description (admin/locale), in the order the admin page lists them
PLACEHOLDERS: dict[str, str] = {
    "customer_name": "The customer's name",
    "case_id": "The case number (KN-…)",
    "agent_name": "Your full name",
    "received_date": "The date the complaint was received (dd/mm/yyyy)",
}
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
MAX_TITLE = 200
MAX_BODY = 10_000  # as a decision's long text (domain.models.LongText)


def unknown_placeholders(body: str) -> list[str]:
    """The ``{names}`` of ``body`` that are not placeholders, each once, in order of appearance."""
    return list(dict.fromkeys(n for n in PLACEHOLDER.findall(body) if n not in PLACEHOLDERS))


def placeholder_values(customer_name: str, case_id: str, agent_name: str, received_at: datetime) -> dict[str, str]:
    return {
        "customer_name": customer_name,
        "case_id": case_id,
        "agent_name": agent_name,
        "received_date": received_at.astimezone(VN_TZ).strftime("%d/%m/%Y"),
    }


def fill(body: str, values: Mapping[str, str]) -> str:
    """``body`` with each placeholder replaced by its value (in one pass: a value that itself
    contains ``{case_id}``, as a customer's name might, is not filled again)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def appended(current: str, text: str) -> str:
    """``text`` added after what is already in a field, a blank line between (nothing typed is lost)."""
    current = current.rstrip()
    return f"{current}\n\n{text}" if current else text


@dataclass(frozen=True)
class Scope:
    """Where a template is offered: ``None`` is "every category" / "every department"."""

    category: str | None
    department: str | None

    @property
    def specificity(self) -> int:
        """2: for one category and department; 1: for one of them; 0: general."""
        return (self.category is not None) + (self.department is not None)


def offer_order(languages: Sequence[str], language: str, scope: Scope, title: str) -> tuple[int, int, str]:
    """How the templates of a complaint are listed: by ``languages`` (the first is the customer's),
    the most specific first, then by title."""
    rank = languages.index(language) if language in languages else len(languages)
    return rank, -scope.specificity, title.casefold()
