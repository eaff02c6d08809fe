"""Canned replies: the templates managers and administrators keep (administration pages), and
those a complaint's forms offer, filled in for it (the complaint page)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from admin import i18n
from admin.users import User
from domain.canned_replies import (
    MAX_BODY,
    MAX_TITLE,
    PLACEHOLDERS,
    Scope,
    fill,
    offer_order,
    placeholder_values,
    unknown_placeholders,
)
from domain.models import ComplaintState
from domain.vocabulary import Category, Language
from store.tables import CannedReply, Department

# The decision forms a template can be inserted into, and their fields that take one: the
# department's resolution and its draft of the reply (the letter, when the reply is written),
# and CS's reply to the customer.
TARGETS: dict[str, tuple[str, ...]] = {
    "resolve": ("resolution", "reply_draft"),
    "reply": ("message",),
    "edit_draft": ("reply_draft",),  # the supervisor's version of the letter
}
FIELDS = ("title", "body", "language", "category", "department")


@dataclass
class CannedReplyForm:
    """A template as the admin form shows and sends it ("" category or department: every one)."""

    title: str = ""
    body: str = ""
    language: str = Language.VI.value
    category: str = ""
    department: str = ""
    active: bool = True

    @classmethod
    def of(cls, reply: CannedReply) -> "CannedReplyForm":
        return cls(reply.title, reply.body, reply.language, reply.category or "", reply.department_code or "",
                   reply.active)  # fmt: skip

    @classmethod
    def typed(cls, form: dict[str, str]) -> "CannedReplyForm":
        title, body, language, category, department = (form.get(name, "").strip() for name in FIELDS)
        return cls(title, body, language, category, department, form.get("active") == "on")


# {field: (msgid, values)}: what is wrong with a field, translated by the page
Problems = dict[str, tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Offer:
    """A template offered on a complaint, its placeholders filled in for that complaint."""

    id: int
    title: str
    language: str
    text: str


class CannedReplies:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[CannedReply]:
        query = select(CannedReply).order_by(CannedReply.language, CannedReply.title, CannedReply.id)
        return list((await self.session.scalars(query)).all())

    async def get(self, reply_id: int) -> CannedReply | None:
        return await self.session.get(CannedReply, reply_id)

    async def problems(self, form: CannedReplyForm) -> Problems:
        found: Problems = {}
        if not 1 <= len(form.title) <= MAX_TITLE:
            found["title"] = ("Enter a title (at most %(max)d characters).", {"max": MAX_TITLE})
        if not 1 <= len(form.body) <= MAX_BODY:
            found["body"] = ("Enter the text (at most %(max)d characters).", {"max": MAX_BODY})
        elif unknown := unknown_placeholders(form.body):
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            found["body"] = ("Unknown placeholder %(names)s. The placeholders are: %(known)s.",
                             {"names": ", ".join(f"{{{name}}}" for name in unknown), "known": known})  # fmt: skip
        if form.language not in {lang.value for lang in Language}:
            found["language"] = ("Choose a value from the list.", {})
        if form.category and form.category not in {c.value for c in Category}:
            found["category"] = ("Choose a category from the list.", {})
        if form.department and await self.session.get(Department, form.department) is None:
            found["department"] = ("There is no department %(code)s.", {"code": form.department})
        return found

    async def save(self, reply: CannedReply | None, form: CannedReplyForm, by: str, now: datetime) -> CannedReply:
        """Creates (``reply`` None) or updates a template checked by ``problems``."""
        if reply is None:
            reply = CannedReply()
            self.session.add(reply)
        reply.title, reply.body, reply.language = form.title, form.body, form.language
        reply.category, reply.department_code = form.category or None, form.department or None
        reply.active, reply.updated_by, reply.updated_at = form.active, by, now
        await self.session.commit()
        return reply

    async def delete(self, reply: CannedReply) -> None:
        await self.session.delete(reply)
        await self.session.commit()

    async def offered(self, category: str | None, department: str | None, languages: list[str]) -> list[CannedReply]:
        """Active templates in ``languages`` for this category and department, or for every one:
        the customer's language first, the most specific first, then by title."""
        query = select(CannedReply).where(
            CannedReply.active.is_(True),
            CannedReply.language.in_(languages),
            or_(CannedReply.category.is_(None), CannedReply.category == category),
            or_(CannedReply.department_code.is_(None), CannedReply.department_code == department),
        )
        found = list((await self.session.scalars(query)).all())
        return sorted(found, key=lambda r: offer_order(languages, r.language, _scope(r), r.title))

    async def offers(self, user: User, state: ComplaintState) -> list[Offer]:
        """The templates a complaint's forms offer ``user``, filled in: in the customer's language
        (whom the reply is for) and in the user's own."""
        languages = list(dict.fromkeys([state.customer.language.value, i18n.normalize(user.language)]))
        category = state.category.value if state.category else None
        values = placeholder_values(state.customer.name, state.complaint_id, user.full_name, state.received_at)
        return [Offer(r.id, r.title, r.language, fill(r.body, values))
                for r in await self.offered(category, state.department, languages)]  # fmt: skip


def _scope(reply: CannedReply) -> Scope:
    return Scope(reply.category, reply.department_code)
