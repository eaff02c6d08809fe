"""Reference data the administration pages read and edit: staff, departments, routing rules."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.security import hash_password, temporary_password
from admin.services.dashboard import DashboardService
from admin.sign_in import revoke_sessions, revoke_token
from domain.vocabulary import DEFAULT_ROUTING, Category
from store.tables import Department, RoutingRule, Staff


@dataclass
class StaffRow:
    username: str
    full_name: str
    role: str
    department: str | None
    email: str | None
    active: bool
    has_password: bool
    has_token: bool

    @classmethod
    def of(cls, staff: Staff) -> "StaffRow":
        return cls(staff.username, staff.full_name, staff.role, staff.department_code, staff.email, staff.active,
                   staff.password_hash is not None, staff.token_hash is not None)  # fmt: skip


@dataclass
class DepartmentRow:
    code: str
    name_vi: str
    name_en: str
    email: str | None
    staff: int = 0
    open: int = 0


@dataclass(frozen=True)
class RoutingRow:
    category: str
    department: str
    default: str
    stored: bool  # False: no rule in the table, routing falls back to the default


class AdministrationService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def commit(self) -> None:
        await self.session.commit()

    # --- staff

    async def staff_rows(self) -> list[StaffRow]:
        return [StaffRow.of(s) for s in (await self.session.scalars(select(Staff).order_by(Staff.username))).all()]

    async def staff(self, username: str) -> Staff | None:
        found: Staff | None = await self.session.scalar(select(Staff).where(Staff.username == username))
        return found

    async def save_staff(self, staff: Staff, row: StaffRow, now: datetime) -> None:
        """Applies an edited row. An inactive account is also signed out everywhere and loses its
        API token: reactivating it later must not bring the old session or token back."""
        staff.full_name, staff.email, staff.role = row.full_name, row.email, row.role
        staff.department_code, staff.active = row.department, row.active
        if not row.active:
            await revoke_sessions(self.session, staff.username, now)
            await revoke_token(self.session, staff.username)
        await self.session.commit()

    async def create_staff(self, row: StaffRow) -> str:
        """A new account with a temporary password, returned to be shown once: the person
        chooses their own at the first login."""
        password = temporary_password()
        self.session.add(Staff(username=row.username, full_name=row.full_name, email=row.email, role=row.role,
                               department_code=row.department, language="vi", active=True,
                               password_hash=hash_password(password), must_change_password=True))  # fmt: skip
        await self.session.commit()
        return password

    async def reset_password(self, staff: Staff, now: datetime) -> str:
        """A temporary password, returned to be shown once; the account is signed out everywhere
        and must choose its own at the next login. Its API token (an integration's) is kept."""
        password = temporary_password()
        staff.password_hash, staff.must_change_password = hash_password(password), True
        await revoke_sessions(self.session, staff.username, now)
        await self.session.commit()
        return password

    # --- departments

    async def departments(self) -> list[Department]:
        return list((await self.session.scalars(select(Department).order_by(Department.code))).all())

    async def department(self, code: str) -> Department | None:
        return await self.session.get(Department, code)

    async def department_exists(self, code: str) -> bool:
        return await self.department(code) is not None

    async def department_rows(self) -> list[DepartmentRow]:
        active = select(Staff.department_code, func.count()).where(Staff.active.is_(True))
        staff = dict((await self.session.execute(active.group_by(Staff.department_code))).tuples().all())
        opened = await DashboardService(self.session).open_by_department(None)
        return [DepartmentRow(d.code, d.name_vi, d.name_en, d.email, staff.get(d.code, 0), opened.get(d.code, 0))
                for d in await self.departments()]  # fmt: skip

    def add_department(self, row: DepartmentRow) -> None:
        self.session.add(Department(code=row.code, name_vi=row.name_vi, name_en=row.name_en, email=row.email))

    # --- routing

    async def routing_rows(self) -> list[RoutingRow]:
        rules = {r.category: r.department_code for r in (await self.session.scalars(select(RoutingRule))).all()}
        return [RoutingRow(c.value, rules.get(c.value, DEFAULT_ROUTING[c]), DEFAULT_ROUTING[c], c.value in rules)
                for c in Category]  # fmt: skip

    async def set_route(self, category: str, department: str) -> None:
        rule = await self.session.get(RoutingRule, category)
        if rule is None:
            self.session.add(RoutingRule(category=category, department_code=department))
        else:
            rule.department_code = department
