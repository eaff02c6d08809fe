"""The counts of each person's queues ("My work") in the menu: rendered with every page and
served by GET /api/v1/me/queues, within what the person may open (domain.access); over HTTP
with the real app, the dev server and a worker."""

import re
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from admin import i18n
from admin.accounts import set_account
from config.settings import Settings
from domain.models import Verify
from domain.vocabulary import Category, Channel, Role
from intake.filing import file_complaint
from store.engine import transaction
from tests.conftest import Sessions
from tests.journey import CS, decide, intake
from tests.test_admin_pages import PASSWORD, Browser, app, until_stages  # noqa: F401


async def counts(person: Browser) -> dict[str, int]:
    answer = await person.http.get("/api/v1/me/queues")
    assert answer.status_code == 200, answer.text
    return {q["queue"]: q["count"] for q in answer.json()}


def menu_counts(page: httpx.Response) -> dict[str, int]:
    found = re.findall(r'data-queue="([\w-]+)"[^>]*>.*?<span class="queue-count-value">(\d+)</span>', page.text)
    return {queue: int(value) for queue, value in found}


async def test_each_role_counts_its_own_queues_within_its_scope(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    async with transaction(sessions) as session:
        await set_account(session, "ha.billing", Role.DEPARTMENT_STAFF, "BILLING", PASSWORD)
    cs, tech = await Browser(app).login("lan.cs", "vi"), await Browser(app).login("minh.tech", "en")
    billing, manager = await Browser(app).login("ha.billing", "en"), await Browser(app).login("quang.manager", "en")

    titles = (await cs.http.get("/api/v1/me/queues")).json()
    # In the person's language, as the catalogue names the queues.
    expected = [("assigned-to-me", i18n.gettext("vi", "Assigned to me")), ("to-verify", "Cần xác minh"),
                ("ready-to-reply", i18n.gettext("vi", "Ready to reply")),
                ("wrote-after-closing", i18n.gettext("vi", "Wrote after closing"))]  # fmt: skip
    assert [(q["queue"], q["title"]) for q in titles] == expected
    assert set(await counts(tech)) == {"assigned-to-me", "to-resolve", "to-close"}
    assert set(await counts(manager)) == {"assigned-to-me", "overdue-and-due-soon"}
    before = {name: await counts(person) for name, person in
              (("cs", cs), ("tech", tech), ("billing", billing))}  # fmt: skip

    client = dev_env.client
    filed = [(await file_complaint(client, settings, intake(Channel.PHONE))).complaint_id for _ in range(3)]
    await until_stages(sessions, dict.fromkeys(filed, "received"))
    assert (await counts(cs))["to-verify"] == before["cs"]["to-verify"] + 3
    # One goes to TECH, one to BILLING: each department counts only its own.
    for cid, department in zip(filed[:2], ("TECH", "BILLING"), strict=True):
        verify = Verify(actor=CS, summary=f"Kiểm thử {uuid.uuid4().hex[:4]}", category=Category.OTHER,
                        department=department)  # fmt: skip
        await decide(client.get_workflow_handle(cid), "verify", verify)
    await until_stages(sessions, {filed[0]: "in_progress", filed[1]: "in_progress"})
    after: dict[str, Any] = {name: await counts(person) for name, person in
                             (("cs", cs), ("tech", tech), ("billing", billing))}  # fmt: skip
    assert after["cs"]["to-verify"] == before["cs"]["to-verify"] + 1
    assert after["tech"] == before["tech"] | {"to-resolve": before["tech"]["to-resolve"] + 1}
    assert after["billing"] == before["billing"] | {"to-resolve": before["billing"]["to-resolve"] + 1}

    # Every page's menu shows the same counts, without waiting for the script.
    for person, name in ((cs, "cs"), (tech, "tech")):
        for path in ("/", "/complaints"):
            assert menu_counts(await person.get(path)) == after[name], (name, path)
    assert (await Browser(app).http.get("/api/v1/me/queues")).status_code == 401
