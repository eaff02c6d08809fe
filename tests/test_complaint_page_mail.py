"""The complaint page names people by their full names, separates mail to the customer from
internal notifications, names each
delivery status in the reader's language, and keeps the raw history and the Temporal UI link
for those who audit (supervisors, managers, administrators); the raw history refuses the others."""

import asyncio
from typing import Any

from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import Actor, Escalate, Verify
from domain.vocabulary import Category, Role
from intake.filing import file_complaint
from intake.mail_intake import MailIntake, Outcome
from tests.journey import CS, decide, intake
from tests.mail_corpus import our_message_id
from tests.test_admin_pages import Browser, app, until_stages  # noqa: F401  (app: the fixture)
from tests.test_mailbox_poll import dsn, outbox

TECH_STAFF = Actor(user="minh.tech", role=Role.DEPARTMENT_STAFF, department="TECH")


async def test_customer_mail_and_staff_notifications_apart(
    app: FastAPI,  # noqa: F811  (the fixture imported above)
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Any,
) -> None:
    filed = await file_complaint(dev_env.client, settings, intake())
    handle = dev_env.client.get_workflow_handle(filed.complaint_id)
    await decide(handle, "verify", Verify(actor=CS, summary="Mất mạng", category=Category.TECHNICAL))
    await decide(handle, "escalate", Escalate(actor=TECH_STAFF, reason="Vượt thẩm quyền"))
    await until_stages(sessions, {filed.complaint_id: "escalated"})
    url = f"/complaints/{filed.complaint_id}"

    cs = await Browser(app).login("lan.cs")
    page = (await cs.get(url)).text
    customer, _, staff = page.partition("Thông báo nội bộ")
    assert "Thư đã gửi khách hàng" in customer and staff, "two sections"
    customer_part = customer.split("Thư đã gửi khách hàng", 1)[1]
    assert "[KN" in customer_part or filed.complaint_id in customer_part  # the acknowledgement
    assert "escalat" not in customer_part.lower() and "chuyển cấp" not in customer_part.lower()
    for raw in (">pending<", ">sent<", ">sending<"):
        assert raw not in page, raw
    assert "history.json" not in page and "Temporal UI" not in page
    trail = page.split('id="audit"', 1)[-1] if 'id="audit"' in page else page
    assert "Nguyễn Thị Lan" in trail and "Lê Quang Minh" in trail  # people by their full names
    assert ">lan.cs " not in trail and ">minh.tech " not in trail
    assert (await cs.http.get(f"{url}/history.json")).status_code == 403

    supervisor = await Browser(app).login("tuan.tech")
    audited = (await supervisor.get(url)).text
    assert "history.json" in audited
    download = await supervisor.http.get(f"{url}/history.json")
    assert download.status_code == 200 and download.json()["events"]


async def test_a_bounced_mail_says_so_with_its_reason(
    app: FastAPI,  # noqa: F811  (the fixture imported above)
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Any,
) -> None:
    filed = await file_complaint(dev_env.client, settings, intake())
    await until_stages(sessions, {filed.complaint_id: "received"})
    acknowledgement = our_message_id(filed.complaint_id, settings.mail_domain)
    async with asyncio.timeout(60):  # a bounce comes back for a mail that was sent
        while getattr((await outbox(sessions, [acknowledgement])).get(acknowledgement), "status", None) != "sent":
            await asyncio.sleep(0.2)
    taken = await MailIntake(dev_env.client, sessions, settings).take_in(dsn("bounce-page", acknowledgement), "smtp")
    assert (taken.outcome, taken.complaint_id) == (Outcome.BOUNCE, filed.complaint_id)
    page = (await (await Browser(app).login("lan.cs")).get(f"/complaints/{filed.complaint_id}")).text
    assert 'class="badge mail-bounced">Bị trả lại<' in page
    assert "Recipient address rejected" in page  # the reason the receiving server gave
