"""The customer writes back on their status page, over HTTP (real app, real dev server, real
worker, real store): information added once per form (a double submit adds one message), shown
back on their page and to staff, never with internal notes or staff names; after closing, within
the reopen window, a request to reopen that lands in CS's queue until CS reopens; outside the
window no form and a clear refusal; the signed stamp and the rate limit per address."""

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import Close, ComplaintState, CustomerMessage, Direction, Note, Reply, Resolve, Verify
from domain.vocabulary import Category, Channel, ReplyMethod
from intake.filing import file_complaint
from store import public_tokens
from store.engine import transaction
from tests.conftest import Sessions
from tests.journey import CS, TECH, decide, intake
from tests.test_admin_pages import Browser, app, until_stages  # noqa: F401
from tests.test_conversation_pages import conversation_of, queue_of
from tests.test_public_pages import LIMIT, Customer, settings  # noqa: F401

LAN = "Nguyễn Thị Lan"  # lan.cs, seeded (store/seed.py)
# Each test files under a name of its own: the store is shared, and test_public_pages counts the
# complaints filed under the form's default name.
WROTE_AFTER_CLOSING = "Nhắn tin sau khi kết thúc"


def form_stamp(page: str, form: str) -> str:
    """The signed stamp of the page's ``form`` (message or reopen)."""
    found = re.search(rf'data-form="{form}">.*?name="stamp" value="([^"]+)"', page, re.S)
    assert found, f"no {form} form on the page"
    return found.group(1)


def messages_of(page: str) -> str:
    found = re.search(r'<section class="card" id="messages".*?</section>', page, re.S)
    assert found, "no messages section"
    return html.unescape(found.group(0))


async def workflow_state(dev_env: WorkflowEnvironment, complaint_id: str) -> ComplaintState:
    state: ComplaintState = await dev_env.client.get_workflow_handle(complaint_id).query(
        "state", result_type=ComplaintState
    )
    return state


async def to_closed(handle: Any) -> None:
    await decide(handle, "verify", Verify(actor=CS, summary="Mạng chập chờn", category=Category.TECHNICAL))
    await decide(handle, "resolve", Resolve(actor=TECH, cause="Modem", resolution="Thay", within_authority=True,
                                            reply_draft="Đã thay modem"))  # fmt: skip
    await decide(handle, "reply", Reply(actor=CS, method=ReplyMethod.EMAIL, message="Chúng tôi đã thay modem."))
    await decide(handle, "close", Close(actor=TECH, root_cause="Modem cũ", lessons_learned="Thay định kỳ"))


async def test_the_customer_adds_information_once_and_staff_see_it(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: WorkflowEnvironment,
) -> None:
    customer = Customer(app, "198.51.100.110")
    path, _ = await customer.file(name="Đặng Thị Mai")
    complaint_id = path.split("/")[-2]
    handle = dev_env.client.get_workflow_handle(complaint_id)
    await decide(handle, "verify", Verify(actor=CS, summary="Mạng chập chờn", category=Category.TECHNICAL))
    secrets_ = ["GHI-CHU-NOI-BO khách khó tính", "CUOC-GOI-CS-GHI khách gọi hỏi tiến độ"]
    await decide(handle, "note", Note(actor=TECH, text=secrets_[0]))
    # CS notes a call on the customer's behalf: in the conversation, with CS's name; not on their page
    await decide(handle, "customer_message", CustomerMessage(actor=CS, text=secrets_[1], via=Channel.PHONE))
    await until_stages(sessions, {complaint_id: "in_progress"})

    page = (await customer.http.get(path)).text
    assert "data-message" not in messages_of(page) and 'data-form="reopen"' not in page
    stamp = form_stamp(page, "message")
    text = "Bổ sung: mạng mất từ 19h đến 22h mỗi tối, modem đèn đỏ."
    first = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": text})
    again = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": text})  # a double click
    assert (first.status_code, again.status_code) == (303, 303), (first.text, again.text)
    assert first.headers["location"].endswith("#messages") and "sent=1" in first.headers["location"]

    state = await workflow_state(dev_env, complaint_id)
    web = [m for m in state.messages if m.direction is Direction.IN and m.via is Channel.WEB]
    assert [(m.text, m.noted_by, m.reopen_requested) for m in web] == [(text, None, False)], "added once, by system"
    assert web[0].message_id is not None and web[0].message_id.startswith("public-message:")

    for _ in range(100):  # shown from the store's projection
        page = (await customer.http.get(first.headers["location"])).text
        if "data-message" in messages_of(page):
            break
        await asyncio.sleep(0.1)
    shown = messages_of(page)
    assert shown.count("data-message") == 1 and text in shown and 'data-notice="sent"' in page
    for hidden in [*secrets_, LAN, "lan.cs", "minh.tech"]:
        assert hidden not in page, hidden
    assert form_stamp(page, "message") != stamp, "a fresh form: the next message is another one"

    staff = await Browser(app).login("lan.cs")
    conversation = conversation_of((await staff.get(f"/complaints/{complaint_id}")).text)
    assert text in conversation and secrets_[1] in conversation

    # before closing there is nothing to reopen
    reopen = await customer.http.post(f"{path}/reopen", data={"stamp": stamp, "reason": "Mở lại"})
    assert reopen.status_code == 409 and "chưa kết thúc" in reopen.text


async def test_the_message_form_says_what_is_wrong_and_keeps_what_was_typed(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
) -> None:
    customer = Customer(app, "198.51.100.120")
    path, _ = await customer.file(name="Bùi Văn Khoa")
    complaint_id = path.split("/")[-2]
    stamp = form_stamp((await customer.http.get(path)).text, "message")

    empty = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": "   "})
    assert empty.status_code == 422 and "nhập nội dung tin nhắn" in empty.text
    long_text = "Dài quá " * 700
    too_long = await customer.http.post(f"{path}/messages", data={"stamp": stamp, "text": long_text})
    assert too_long.status_code == 422 and "5.000 ký tự" in too_long.text
    assert html.escape(long_text.strip(), quote=False) in too_long.text, "what was typed is kept"
    forged = stamp[:-2] + ("AA" if not stamp.endswith("AA") else "BB")
    expired = await customer.http.post(f"{path}/messages", data={"stamp": forged, "text": "Tin nhắn thật"})
    assert expired.status_code == 400 and "đã hết hạn" in expired.text and "Tin nhắn thật" in expired.text
    assert form_stamp(expired.text, "message") != forged, "a fresh stamp to send it again"
    second = Customer(app, "198.51.100.121")  # three posts per address (LIMIT): another one goes on
    english = await second.http.post(f"{path}/messages", data={"stamp": stamp, "text": "", "lang": "en"})
    assert english.status_code == 422 and "Please write your message." in english.text

    state = await workflow_state(dev_env, complaint_id)
    assert not [m for m in state.messages if m.direction is Direction.IN], "nothing was added"
    wrong = await second.http.post(f"{path[:-1]}x/messages", data={"stamp": stamp, "text": "x"})
    assert wrong.status_code == 404


async def test_after_closing_the_customer_asks_to_reopen_and_cs_reopens(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: WorkflowEnvironment,
) -> None:
    customer = Customer(app, "198.51.100.130")
    path, _ = await customer.file(name="Hồ Thị Ngọc")
    complaint_id = path.split("/")[-2]
    await to_closed(dev_env.client.get_workflow_handle(complaint_id))
    await until_stages(sessions, {complaint_id: "closed"})

    page = (await customer.http.get(path)).text
    assert 'data-form="message"' not in page, "closed: information is not added, a reopen is asked"
    stamp = form_stamp(page, "reopen")
    reason = "Sau khi thay modem mạng vẫn mất vào buổi tối; đề nghị kiểm tra lại."
    asked = await customer.http.post(f"{path}/reopen", data={"stamp": stamp, "reason": reason})
    again = await customer.http.post(f"{path}/reopen", data={"stamp": stamp, "reason": reason})
    assert (asked.status_code, again.status_code) == (303, 303), (asked.text, again.text)
    state = await workflow_state(dev_env, complaint_id)
    web = [m for m in state.messages if m.direction is Direction.IN]
    assert [(m.text, m.reopen_requested) for m in web] == [(reason, True)] and state.reopen_requested

    cs = await Browser(app).login("lan.cs", lang="vi")
    queue = ""
    for _ in range(100):  # the worker projects the message's step after the update answered
        queue = queue_of((await cs.get("/")).text, WROTE_AFTER_CLOSING)
        if complaint_id in queue:
            break
        await asyncio.sleep(0.1)
    assert complaint_id in queue and 'data-flag="reopen-requested"' in queue, queue
    page = (await customer.http.get(asked.headers["location"])).text
    assert 'data-notice="reopen_asked"' in page and reason in messages_of(page)
    assert "Yêu cầu mở lại" in messages_of(page) and 'data-form="reopen"' not in page, "asked once: no form"

    done = await cs.submit(f"/complaints/{complaint_id}", f"/complaints/{complaint_id}/actions/reopen",
                           {"reason": "Khách yêu cầu qua trang tra cứu"})  # fmt: skip
    assert done.status_code == 303, done.text
    await until_stages(sessions, {complaint_id: "escalated"})
    assert complaint_id not in queue_of((await cs.get("/")).text, WROTE_AFTER_CLOSING)
    page = (await customer.http.get(path)).text
    assert 'data-customer-stage="in_progress"' in page and 'data-form="message"' in page


async def test_outside_the_reopen_window_no_form_and_a_post_is_refused(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
    dev_env: WorkflowEnvironment,
    settings: Settings,  # noqa: F811
) -> None:
    window = timedelta(seconds=2)
    filed = await file_complaint(dev_env.client, settings.model_copy(update={"sla_reopen_window": window}), intake())
    complaint_id = filed.complaint_id
    token = public_tokens.new_token()
    async with transaction(sessions) as session:  # the link an acknowledgement mail carries
        await public_tokens.keep(session, complaint_id, token, public_tokens.MAIL, datetime.now(UTC))
    path = f"/public/complaints/{complaint_id}/{token}"
    customer = Customer(app, "198.51.100.140")
    handle = dev_env.client.get_workflow_handle(complaint_id)
    await to_closed(handle)
    await until_stages(sessions, {complaint_id: "closed"})
    stamp = app.state.public_stamps.issue()  # a form served in time (the window is too short to be sure of it)
    for _ in range(100):  # the window ends, and with it the workflow
        if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.1)

    page = (await customer.http.get(path)).text
    assert 'data-customer-stage="closed"' in page
    assert 'data-form="reopen"' not in page and 'data-form="message"' not in page and 'id="rate"' not in page
    for url, field in ((f"{path}/reopen", "reason"), (f"{path}/messages", "text")):
        refused = await customer.http.post(url, data={"stamp": stamp, field: "Xin mở lại"})
        assert refused.status_code == 409, refused.text
        assert "đã quá thời hạn mở lại" in refused.text and settings.hotline in refused.text
    english = await customer.http.post(f"{path}/reopen?lang=en", data={"stamp": stamp, "reason": "Reopen"})
    assert english.status_code == 409 and "its reopen window has passed" in english.text


async def test_the_message_rate_limit_is_per_address(app: FastAPI) -> None:  # noqa: F811
    noisy, other = Customer(app, "203.0.113.20"), Customer(app, "203.0.113.21")
    path, _ = await other.file(name="Lý Văn Phúc")
    for _ in range(LIMIT):  # posts count whatever becomes of them (here: a made-up stamp)
        assert (await noisy.http.post(f"{path}/messages", data={"stamp": "x", "text": "Spam"})).status_code == 400
    limited = await noisy.http.post(f"{path}/messages", data={"stamp": "x", "text": "Spam"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "quá nhiều tin nhắn" in limited.text.lower()
    also_reopen: httpx.Response = await noisy.http.post(f"{path}/reopen", data={"stamp": "x", "reason": "Spam"})
    assert also_reopen.status_code == 429, "one limit for both forms"
    stamp = form_stamp((await other.http.get(path)).text, "message")
    sent = await other.http.post(f"{path}/messages", data={"stamp": stamp, "text": "Thông tin thêm"})
    assert sent.status_code == 303, "another address is not limited"
