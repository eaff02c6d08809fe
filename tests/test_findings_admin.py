"""Issue 12 findings in the admin, over HTTP against the real app (real dev server, real worker,
real SQLite store): one bad item never answers 500, personal data stays out of the logs, and the
client address is not taken from a spoofable header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.app import create_app
from config.settings import Settings
from store.engine import transaction
from tests.journey import running_worker
from tests.test_admin_pages import ACCOUNTS, PASSWORD, Browser


@pytest.fixture
async def app(dev_env: WorkflowEnvironment, settings: Settings, sessions: Any) -> AsyncIterator[Any]:
    async with transaction(sessions) as session:
        for username, (role, department) in ACCOUNTS.items():
            await set_account(session, username, role, department, PASSWORD)
    application = create_app(settings, temporal=dev_env.client)
    async with running_worker(dev_env.client, settings, sessions), application.router.lifespan_context(application):
        yield application


def _mail(subject: str, date: str) -> bytes:
    message = EmailMessage()
    message["From"] = "cskh@luarong.vn"
    message["To"] = "an@example.vn"
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject}@luarong.vn>"
    message["Date"] = date
    message.set_content("Xin chào")
    return message.as_bytes()


async def test_a_mail_dated_at_the_end_of_the_calendar_does_not_break_the_mail_list(
    app: Any, settings: Settings
) -> None:
    """Medium 4a: one caught mail dated ``Fri, 31 Dec 9999 23:59:59 -2359`` gave 500 on /mails."""
    directory = settings.data_dir / "mail"
    directory.mkdir(parents=True)
    (directory / "a_good.eml").write_bytes(_mail("good-mail", "Mon, 30 Nov 2026 10:00:00 +0700"))
    for name, date in [
        ("b_future.eml", "Fri, 31 Dec 9999 23:59:59 -2359"),
        ("c_past.eml", "Mon, 1 Jan 0001 00:00:00 +2359"),
    ]:
        (directory / name).write_bytes(_mail(name[:-4], date))
    cs = await Browser(app).login("lan.cs")
    listing = await cs.get("/mails")
    assert listing.status_code == 200, listing.text[:500]
    assert "good-mail" in listing.text and "30/11/2026 10:00" in listing.text
    for name in ("b_future.eml", "c_past.eml"):
        page = await cs.get(f"/mails/{name}")
        assert page.status_code == 200 and name[:-4] in page.text
