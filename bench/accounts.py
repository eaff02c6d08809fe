"""Staff logins and API tokens for the benchmark's users, made with ``admin.accounts``."""

import re

import httpx

from admin.accounts import issue_token, set_account
from domain.models import Actor
from store.engine import make_engine, make_sessionmaker, transaction

PASSWORD = "bench-password-2026"


async def api_tokens(database_url: str, staff: tuple[Actor, ...]) -> dict[str, str]:
    """Give each seeded staff member a password and a fresh API token."""
    engine = make_engine(database_url)
    tokens: dict[str, str] = {}
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            for actor in staff:
                await set_account(session, actor.user, actor.role, actor.department, PASSWORD)
                tokens[actor.user] = await issue_token(session, actor.user)
    finally:
        await engine.dispose()
    return tokens


async def log_in(http: httpx.AsyncClient, username: str) -> None:
    """Log in through the login form, as a browser does (CSRF cookie and field)."""
    page = await http.get("/login")
    page.raise_for_status()
    found = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.text)
    if not found:
        raise RuntimeError("no CSRF token on the login page")
    response = await http.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": found.group(1)}
    )
    if response.status_code not in (200, 303):
        raise RuntimeError(f"login as {username} failed: {response.status_code}")
    if not any("session" in name for name in http.cookies):
        raise RuntimeError(f"login as {username} set no session cookie")
