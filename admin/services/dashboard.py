"""The dashboard's numbers: open complaints by status and department, overdue, due soon, and
closed within the bound; within the user's scope (``domain.access``, rendered by ``store.scopes``)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from admin import i18n
from admin.users import User
from domain.access import visible_department
from domain.vocabulary import OPEN_STAGES, Stage
from store import scopes
from store.tables import Complaint, Department

CLOSED_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class DepartmentCount:
    code: str | None
    name: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    scope: str | None
    by_stage: list[tuple[str, int]]
    by_department: list[DepartmentCount]
    open_total: int
    overdue: int
    due_soon: int
    closed_in_bound: int
    closed: int

    @property
    def in_bound_percent(self) -> int | None:
        return round(100 * self.closed_in_bound / self.closed) if self.closed else None


def _open_in(scope: str | None, *conditions: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    where = [scopes.is_open(), *conditions]
    if scope is not None:
        where.append(Complaint.department_code == scope)
    return where


class DashboardService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_by_stage(self, scope: str | None) -> dict[str, int]:
        query = select(Complaint.stage, func.count()).where(*_open_in(scope)).group_by(Complaint.stage)
        return {stage: count for stage, count in (await self.session.execute(query)).tuples()}

    async def open_by_department(self, scope: str | None) -> dict[str | None, int]:
        query = (
            select(Complaint.department_code, func.count()).where(*_open_in(scope)).group_by(Complaint.department_code)
        )
        return {code: count for code, count in (await self.session.execute(query)).tuples()}

    async def _count(self, where: list[ColumnElement[bool]]) -> int:
        return int(await self.session.scalar(select(func.count()).where(*where)) or 0)

    async def closed_within_bound(self, scope: str | None, now: datetime) -> tuple[int, int]:
        """(closed within their bound, closed) among complaints closed in the last 30 days."""
        within = func.sum(case((Complaint.closed_at <= Complaint.deadline, 1), else_=0))
        recently = Complaint.closed_at >= now - CLOSED_WINDOW
        query = select(func.count(), within).where(Complaint.stage == Stage.CLOSED.value, recently)
        if scope is not None:
            query = query.where(Complaint.department_code == scope)
        closed, in_bound = (await self.session.execute(query)).one()
        return int(in_bound or 0), int(closed or 0)

    async def department_names(self, lang: str) -> dict[str, str]:
        rows = (await self.session.scalars(select(Department).order_by(Department.code))).all()
        return {d.code: d.name_vi if lang == "vi" else d.name_en for d in rows}

    async def dashboard(self, user: User, now: datetime) -> Dashboard:
        scope = visible_department(user.actor)
        stages = await self.open_by_stage(scope)
        departments = await self.open_by_department(scope)
        names = await self.department_names(i18n.normalize(user.language))
        codes: list[str | None]
        if scope is not None:
            codes = [scope]
        else:  # every department (zero included), then codes the table no longer has, then the unassigned
            codes = [*names, *sorted(c for c in departments if c is not None and c not in names)]
            if None in departments:
                codes.append(None)
        in_bound, closed = await self.closed_within_bound(scope, now)
        return Dashboard(
            scope=scope,
            by_stage=[(s.value, stages.get(s.value, 0)) for s in Stage if s in OPEN_STAGES],
            by_department=[DepartmentCount(c, names.get(c, c) if c else "", departments.get(c, 0)) for c in codes],
            open_total=sum(stages.values()),
            overdue=await self._count(_open_in(scope, scopes.overdue(now))),
            due_soon=await self._count(_open_in(scope, scopes.due_soon(now))),
            closed_in_bound=in_bound,
            closed=closed,
        )
