"""Issue 12 findings in the admin, over HTTP against the real app (real dev server, real worker,
real SQLite store): one bad item never answers 500, personal data stays out of the logs, and the
client address is not taken from a spoofable header."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.app import create_app
from config.settings import Settings
from domain.vocabulary import Channel
from intake.filing import file_complaint
from store.engine import transaction
from tests.journey import intake, running_worker
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
    edges = {"b_future.eml": "Fri, 31 Dec 9999 23:59:59 -2359", "c_past.eml": "Mon, 1 Jan 0001 00:00:00 +2359"}
    for name, date in edges.items():
        (directory / name).write_bytes(_mail(name[:-4], date))
    cs = await Browser(app).login("lan.cs")
    listing = await cs.get("/mails")
    assert listing.status_code == 200, listing.text[:500]
    assert "good-mail" in listing.text and "30/11/2026 10:00" in listing.text
    for name in ("b_future.eml", "c_past.eml"):
        page = await cs.get(f"/mails/{name}")
        assert page.status_code == 200 and name[:-4] in page.text


async def test_a_signal_that_is_not_a_decision_does_not_break_the_history(
    app: Any, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """Medium 4b: ``temporal workflow signal --name note --input '[1,2]'`` broke the complaint's
    page and history for good."""
    client = dev_env.client
    complaint_id = (await file_complaint(client, settings, intake(Channel.PHONE))).complaint_id
    handle = client.get_workflow_handle(complaint_id)
    await handle.signal("note", [1, 2])  # what the stock CLI sends: one JSON value, not a decision
    await handle.signal("note", {"actor": "forged", "text": "x"})  # an actor that is not an actor
    for _ in range(200):
        events = [e async for e in handle.fetch_history_events()]
        if sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in events) >= 2:
            break
        await asyncio.sleep(0.05)
    manager = await Browser(app).login("quang.manager")
    page = await manager.get(f"/complaints/{complaint_id}")
    assert page.status_code == 200, page.text[:500]
    history = await manager.get(f"/api/v1/complaints/{complaint_id}/history")
    assert history.status_code == 200, history.text[:500]
    signals = [event for event in history.json() if event["kind"] == "signal"]
    assert [s["name"] for s in signals] == ["note", "note"]
    assert signals[0]["actor"] is None and signals[0]["fields"] == {"value": [1, 2]}
    assert signals[1]["actor"] is None and signals[1]["fields"]["text"] == "x"
    assert "forged" in str(signals[1]["fields"])  # shown, marked as not an actor


async def test_a_nul_byte_in_the_search_text_is_refused_not_a_store_outage(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Low 8: ``q=`` with a NUL byte answered 503 "store unavailable" and logged a store outage."""
    manager = await Browser(app).login("quang.manager")
    with caplog.at_level(logging.WARNING):
        for q in ("abc\x00def", "a\x00"):  # both search paths: LIKE (short) and the trigram index
            api = await manager.get(f"/api/v1/complaints?q={quote(q)}")
            assert api.status_code == 422 and api.json()["field"] == "q", api.text
            page = await manager.get(f"/complaints?q={quote(q)}")
            assert page.status_code == 200, page.text[:300]
    assert not [r for r in caplog.records if "store unavailable" in r.getMessage().lower()]
