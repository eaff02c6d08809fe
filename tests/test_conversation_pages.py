"""The conversation with the customer over HTTP (real app, real dev server, real worker): the
complaint page shows the customer's messages with their quoted history trimmed (the full text
behind "Show the full message"), CS notes a call with the page's form, and a closed complaint
the customer wrote about (asking to reopen) is in CS's "Wrote after closing" queue until CS
reopens it."""

import asyncio
import html
import re

from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.vocabulary import Channel
from intake.customer_messages import MessageOutcome, add_customer_message
from intake.filing import file_complaint
from tests.conftest import Sessions
from tests.journey import CS, TECH, decide, intake
from tests.stages import CLOSE, REPLY, RESOLVE, VERIFY
from tests.test_admin_pages import Browser, app, until_stages  # noqa: F401

LAN = "Nguyễn Thị Lan"  # lan.cs, seeded (store/seed.py)
MAIL = "Mạng vẫn chập chờn vào buổi tối.\n\nVào 10:00 ngày 1/12/2026, Lửa Rồng đã viết:\n> Sự cố đã được khắc phục."


def conversation_of(page: str) -> str:
    found = re.search(r'<section class="card" aria-labelledby="conversation-title" id="conversation">.*?</section>',
                      page, re.S)  # fmt: skip
    assert found, "no conversation on the page"
    return html.unescape(found.group(0))


def queue_of(page: str, title: str) -> str:
    found = re.search(rf"<h2>{re.escape(title)} <span.*?</section>", page, re.S)
    assert found, f"no queue {title}"
    return found.group(0)


async def test_the_page_shows_the_conversation_and_cs_notes_a_call(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    client = dev_env.client
    cid = (await file_complaint(client, settings, intake())).complaint_id
    await decide(client.get_workflow_handle(cid), "verify", VERIFY)
    added = await add_customer_message(client, cid, MAIL, Channel.EMAIL, message_id=f"<{cid}.r1@customer.vn>")
    assert added.outcome is MessageOutcome.ADDED
    await until_stages(sessions, {cid: "in_progress"})
    page_url = f"/complaints/{cid}"

    cs = await Browser(app).login("lan.cs", lang="vi")
    shown = conversation_of((await cs.get(page_url)).text)
    first = re.search(r'data-part="shown">([^<]*)<', shown)
    assert first and first.group(1) == "Mạng vẫn chập chờn vào buổi tối.", shown
    behind = r'<details class="full-message"><summary>Xem toàn bộ tin nhắn</summary>.*?data-part="full">([^<]*)<'
    full = re.search(behind, shown, re.S)
    assert full and full.group(1) == MAIL, "the full message is kept, behind its summary"
    assert shown.count('data-direction="out"') == 1, "the acknowledgement mail is our first message"

    # CS notes the customer's call with the page's form (by phone, prefilled)
    page = (await cs.get(page_url)).text
    form = re.search(r'data-decision="customer_message">(.*?)</form>', page, re.S)
    assert form and re.search(r'<option value="phone" selected>', form.group(1)), "the call is by phone by default"
    assert re.search(r'<option value="false" selected>', form.group(1)), "no reopen asked unless CS says so"
    assert 'name="message_id"' not in form.group(1)
    file_inputs = re.findall(r'<input[^>]*name="attachments"[^>]*>', form.group(1))
    assert len(file_inputs) == 1 and 'type="file"' in file_inputs[0], "files as a file input, never refs typed in"
    call = {"text": "Khách gọi: buổi tối vẫn mất mạng", "via": "phone", "reopen_requested": "false"}
    done = await cs.submit(page_url, f"{page_url}/actions/customer_message", call)
    assert done.status_code == 303, done.text
    shown = conversation_of((await cs.get(page_url)).text)
    assert "Khách gọi: buổi tối vẫn mất mạng" in shown and f"do {LAN} ghi nhận" in shown
    refused = await cs.submit(page_url, f"{page_url}/actions/customer_message", {"text": " ", "via": "phone"})
    assert refused.status_code == 422 and 'id="customer_message-text-error"' in refused.text

    # department staff write internal notes, not the customer's words
    engineer = await Browser(app).login("minh.tech", lang="en")
    assert 'data-decision="customer_message"' not in (await engineer.get(page_url)).text
    assert "Conversation with the customer" in (await engineer.get(page_url)).text


async def test_a_customer_asking_to_reopen_is_in_cs_queue_until_cs_reopens(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    client = dev_env.client
    cid = (await file_complaint(client, settings, intake())).complaint_id
    handle = client.get_workflow_handle(cid)
    for name, payload in (("verify", VERIFY), ("resolve", RESOLVE), ("reply", REPLY), ("close", CLOSE)):
        await decide(handle, name, payload.model_copy(update={"actor": CS if name in ("verify", "reply") else TECH}))
    await until_stages(sessions, {cid: "closed"})
    cs = await Browser(app).login("lan.cs", lang="vi")
    assert cid not in queue_of((await cs.get("/")).text, "Nhắn tin sau khi kết thúc")

    added = await add_customer_message(
        client, cid, "Tôi chưa hài lòng, xin mở lại.", Channel.WEB, reopen_requested=True, message_id=f"web:{cid}"
    )
    assert added.state is not None and added.state.reopen_requested
    await until_stages(sessions, {cid: "closed"})
    for _ in range(50):  # the worker projects the message's step after the update answered
        queue = queue_of((await cs.get("/")).text, "Nhắn tin sau khi kết thúc")
        if cid in queue:
            break
        await asyncio.sleep(0.1)
    assert cid in queue and 'data-flag="reopen-requested"' in queue, queue
    page = (await cs.get(f"/complaints/{cid}")).text
    assert 'data-flag="wrote-after-closing"' in page and "Khách hàng yêu cầu mở lại khiếu nại." in page

    done = await cs.submit(f"/complaints/{cid}", f"/complaints/{cid}/actions/reopen", {"reason": "Khách yêu cầu"})
    assert done.status_code == 303, done.text
    await until_stages(sessions, {cid: "escalated"})
    assert cid not in queue_of((await cs.get("/")).text, "Nhắn tin sau khi kết thúc")
    assert 'data-flag="wrote-after-closing"' not in (await cs.get(f"/complaints/{cid}")).text
