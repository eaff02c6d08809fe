"""Saved views of the complaint list: each staff member's own named filters and sort, kept as
the list's query string. Another user's views are neither listed nor opened nor deleted."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from admin.errors import ServiceError
from admin.users import User
from store.tables import SavedView

# The list's own query parameters: what a view keeps (not, e.g., a page cursor).
LIST_PARAMS = (
    "q",
    "stage",
    "department",
    "category",
    "channel",
    "priority",
    "assignee",
    "overdue",
    "from",
    "to",
    "sort",
)
MAX_VIEWS = 50  # per user
MAX_NAME = 100


@dataclass(frozen=True)
class View:
    id: int
    name: str
    query: str  # the list's query string


class SavedViews:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, user: User) -> list[View]:
        query = select(SavedView).where(SavedView.username == user.username).order_by(SavedView.name)
        return [View(v.id, v.name, v.query) for v in (await self.session.scalars(query)).all()]

    async def save(self, user: User, name: str, query: str) -> View:
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME:
            raise ServiceError(422, "invalid", f"name: 1 to {MAX_NAME} characters", field="name")
        kept = urlencode([(k, v) for k, v in parse_qsl(query) if k in LIST_PARAMS and v])
        if len(kept) > 2000:
            raise ServiceError(422, "invalid", "query: too long", field="name")
        existing = await self.session.scalar(
            select(SavedView).where(SavedView.username == user.username, SavedView.name == name)
        )
        if existing is not None:  # the same name again: the view is updated, not duplicated
            existing.query = kept
        else:
            if len(await self.list(user)) >= MAX_VIEWS:
                raise ServiceError(422, "invalid", f"name: at most {MAX_VIEWS} saved views", field="name")
            existing = SavedView(username=user.username, name=name, query=kept, created_at=datetime.now(UTC))
            self.session.add(existing)
        try:
            await self.session.commit()
        except IntegrityError as exc:  # saved twice at once under the same name
            await self.session.rollback()
            raise ServiceError(409, "refused", "name: saved at the same time elsewhere", field="name") from exc
        return View(existing.id, existing.name, existing.query)

    async def open(self, user: User, view_id: int) -> View:
        view = await self.session.get(SavedView, view_id)
        if view is None or view.username != user.username:  # someone else's is as if it did not exist
            page: tuple[str, dict[str, Any]] = ("This saved view does not exist.", {})
            raise ServiceError(404, "not_found", f"no saved view {view_id}", page=page)
        return View(view.id, view.name, view.query)

    async def delete(self, user: User, view_id: int) -> None:
        await self.open(user, view_id)
        await self.session.execute(delete(SavedView).where(SavedView.id == view_id))
        await self.session.commit()
