"""Staff logins for the driver: seeded people given a password and an API token, through
``admin.accounts`` directly against the store (what ``python -m admin users add`` / ``token`` do)."""

import secrets
from dataclasses import dataclass

from admin.accounts import issue_token, set_account
from domain.vocabulary import Role
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade

# key -> (seeded username, role, department); department keys name the resolving department.
PEOPLE: dict[str, tuple[str, Role, str]] = {
    "cs": ("lan.cs", Role.CS_AGENT, "CS"),
    "TECH": ("minh.tech", Role.DEPARTMENT_STAFF, "TECH"),
    "TECH_SUP": ("tuan.tech", Role.SUPERVISOR, "TECH"),
    "BILLING": ("ha.billing", Role.DEPARTMENT_STAFF, "BILLING"),
    "BILLING_SUP": ("thu.billing", Role.SUPERVISOR, "BILLING"),
}


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    token: str


async def create_staff(database_url: str) -> dict[str, Login]:
    # Migrating here first also keeps the worker and the admin, which start next, from both
    # creating the schema of a new database at the same moment.
    await upgrade(database_url)
    engine = make_engine(database_url)
    logins: dict[str, Login] = {}
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            for key, (username, role, department) in PEOPLE.items():
                password = secrets.token_urlsafe(12)
                await set_account(session, username, role, department, password)
                logins[key] = Login(username, password, await issue_token(session, username))
    finally:
        await engine.dispose()
    return logins
