"""Staff accounts: create or update a login, issue an API token (used by `python -m admin`)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.security import MIN_PASSWORD_LENGTH, hash_password, hash_token, new_token
from admin.sign_in import revoke_sessions, utcnow
from domain.vocabulary import Role
from store.seed import staff_email
from store.tables import Department, Staff

DEPARTMENT_ROLES = (Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.CS_AGENT)


class AccountError(ValueError):
    pass


async def set_account(
    session: AsyncSession,
    username: str,
    role: Role,
    department: str | None,
    password: str,
    full_name: str | None = None,
) -> Staff:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if role in DEPARTMENT_ROLES and not department:
        raise AccountError(f"a {role.value} needs --department")
    if department and await session.get(Department, department) is None:
        raise AccountError(f"no department {department}")
    staff = await session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        staff = Staff(username=username, full_name=full_name or username, email=staff_email(username), language="vi")
        session.add(staff)
    staff.role, staff.department_code, staff.active = role.value, department, True
    if full_name:
        staff.full_name = full_name
    staff.password_hash = hash_password(password)
    staff.must_change_password = False  # chosen by whoever runs the command, not a reset's temporary one
    await revoke_sessions(session, username, utcnow())  # signs out wherever the old one was used
    await session.flush()
    return staff


async def issue_token(session: AsyncSession, username: str) -> str:
    """A new API token for ``username`` (the previous one stops working); shown once."""
    staff = await session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise AccountError(f"no staff account {username}")
    token = new_token()
    staff.token_hash = hash_token(token)
    return token


DEMO_LOGINS = [
    ("lan.cs", Role.CS_AGENT, "CS"),
    ("minh.tech", Role.DEPARTMENT_STAFF, "TECH"),
    ("tuan.tech", Role.SUPERVISOR, "TECH"),
    ("quang.manager", Role.MANAGER, None),
    ("admin", Role.ADMIN, None),
]


async def ensure_demo_accounts(session: AsyncSession) -> list[tuple[str, Role, str]]:
    """On a database where nobody can log in yet, give one seeded person per role a password.

    Only `make run` calls this (COMPLAINTS_DEMO_ACCOUNTS); production never has demo logins.
    """
    if await session.scalar(select(Staff.id).where(Staff.password_hash.is_not(None)).limit(1)) is not None:
        return []
    created = []
    for username, role, department in DEMO_LOGINS:
        password = f"demo-{username.split('.')[0]}-2026"
        await set_account(session, username, role, department, password)
        created.append((username, role, password))
    return created
