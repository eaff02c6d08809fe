"""Canned replies (issue 13) over HTTP (real app, real dev server, real worker): managers and
administrators keep them in the administration pages, nobody else; a refused form keeps what
was typed, each problem beside its field; the complaint page offers the complaint's own and
the general ones under the resolve and reply fields, filled in; "Insert" without script brings
the form back as typed with the reply added, nothing decided; the reply sent carries it."""

import html
import re
import uuid

from fastapi import FastAPI
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from admin.services.canned_replies import CannedReplies, CannedReplyForm
from admin.sign_in import utcnow
from config.settings import Settings
from domain.models import Actor, Resolve, Verify
from domain.vocabulary import Category, Role
from intake.filing import file_complaint
from store.tables import CannedReply, Complaint
from tests.conftest import Sessions
from tests.journey import CS, decide, intake, state_of
from tests.test_admin_pages import XSS, Browser, app, until_stages  # noqa: F401

TECH_STAFF = Actor(user="minh.tech", role=Role.DEPARTMENT_STAFF, department="TECH")
LIST = "/admin/canned-replies"


def textarea(page: str, field_id: str) -> str:
    found = re.search(rf'<textarea id="{field_id}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, f"no textarea {field_id}"
    return html.unescape(found.group(1))


def offered(page: str, select_id: str) -> dict[str, str]:
    """The options of a canned reply picker: {title: filled text}."""
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no picker {select_id}"
    options = re.findall(r'<option value="\d+" lang="\w+" data-text="([^"]*)"[^>]*>([^<]*)</option>', found.group(1))
    return {html.unescape(title): html.unescape(text) for text, title in options}


async def reply_id(sessions: Sessions, title: str) -> int:
    async with sessions() as session:
        found = await session.scalar(select(CannedReply.id).where(CannedReply.title == title))
        assert found is not None, title
        return found


async def test_managers_and_administrators_keep_the_canned_replies(app: FastAPI, sessions: Sessions) -> None:  # noqa: F811
    title = f"Xin lỗi vì sự cố {uuid.uuid4().hex[:6]}"
    manager = await Browser(app).login("quang.manager", lang="vi")
    listing = await manager.get(LIST)
    assert listing.status_code == 200 and "<h1>Mẫu trả lời</h1>" in listing.text
    assert f'href="{LIST}"' in (await manager.get("/admin/staff")).text  # a tab of the administration pages

    # refused: the problems beside their fields, everything typed kept
    typed = {"title": "", "language": "vi", "category": "technical", "department": "NOPE",
             "body": "Kính gửi {ten_khach_hang}, về {case_id}", "active": "on"}  # fmt: skip
    refused = await manager.submit(f"{LIST}/new", LIST, typed)
    assert refused.status_code == 422, refused.text
    assert 'id="canned-title-error"' in refused.text and 'id="canned-department-error"' in refused.text
    assert "Trường tự điền không hợp lệ: {ten_khach_hang}" in html.unescape(refused.text)
    assert "{customer_name}" in html.unescape(refused.text)
    assert textarea(refused.text, "canned-body") == typed["body"]
    assert re.search(r'<option value="technical" selected>', refused.text)
    assert 'id="canned-language-error"' not in refused.text and 'id="canned-category-error"' not in refused.text

    corrected = {"title": title, "department": "TECH", "body": "Kính gửi {customer_name}, về {case_id}"}
    saved = await manager.submit(f"{LIST}/new", LIST, typed | corrected)
    assert saved.status_code == 303 and saved.headers["location"].startswith(f"{LIST}?saved=")
    listing = await manager.get(saved.headers["location"])
    assert title in listing.text and "Đã lưu." in listing.text and "Lý Minh Quang" in listing.text
    rid = await reply_id(sessions, title)

    # changed by an administrator: another department, a title with markup (shown escaped), not in use
    admin = await Browser(app).login("admin", lang="vi")
    form = await admin.get(f"{LIST}/{rid}")
    assert form.status_code == 200 and textarea(form.text, "canned-body") == corrected["body"]
    changes = {"title": f"{title} {XSS}", "language": "en", "category": "", "department": "",
               "body": "Dear {customer_name}"}  # fmt: skip
    changed = await admin.submit(f"{LIST}/{rid}", f"{LIST}/{rid}", changes)
    assert changed.status_code == 303
    async with sessions() as session:
        row = await session.get(CannedReply, rid)
        assert row is not None
        assert (row.language, row.category, row.department_code, row.active) == ("en", None, None, False)
        assert (row.body, row.updated_by) == ("Dear {customer_name}", "admin")
    assert "&lt;script&gt;" in (await admin.get(LIST)).text

    # nobody else opens or changes them; a form without its CSRF token is refused
    for username in ("lan.cs", "minh.tech", "tuan.tech"):
        other = await Browser(app).login(username)
        for url in (LIST, f"{LIST}/new", f"{LIST}/{rid}"):
            assert (await other.get(url)).status_code == 403, (username, url)
        forged = await other.submit("/dashboard", f"{LIST}/{rid}/delete", {})
        assert forged.status_code == 403
    no_token = await manager.http.post(f"{LIST}/{rid}/delete")
    assert no_token.status_code == 403
    assert (await manager.get(f"{LIST}/999999")).status_code == 404

    deleted = await manager.submit(f"{LIST}/{rid}", f"{LIST}/{rid}/delete", {})
    assert deleted.status_code == 303
    async with sessions() as session:
        assert await session.get(CannedReply, rid) is None

    english = await Browser(app).login("quang.manager", lang="en")
    page = await english.get(f"{LIST}/new")
    assert "<h1>Add a canned reply</h1>" in page.text and "The customer&#39;s name" in page.text


async def test_the_complaint_offers_them_filled_in_and_insert_keeps_what_was_typed(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    tag = uuid.uuid4().hex[:6]
    titles = {name: f"{name} {tag}" for name in ("tech", "general", "billing", "unused", "english")}
    async with sessions() as session:
        replies = CannedReplies(session)
        for name, language, category, department, active in [
            ("tech", "vi", "technical", "TECH", True), ("general", "vi", "", "", True),
            ("billing", "vi", "billing", "", True), ("unused", "vi", "", "", False), ("english", "en", "", "", True),
        ]:  # fmt: skip
            body = "Kính gửi {customer_name}, về khiếu nại {case_id}: " + name
            await replies.save(None, CannedReplyForm(titles[name], body, language, category, department, active),
                               "quang.manager", utcnow())  # fmt: skip

    filed = await file_complaint(dev_env.client, settings, intake(name="Phạm Thị Hoa"))
    cid = filed.complaint_id
    handle = dev_env.client.get_workflow_handle(cid)
    await decide(handle, "verify", Verify(actor=CS, summary="Mất kết nối", category=Category.TECHNICAL))
    await until_stages(sessions, {cid: "in_progress"})
    url = f"/complaints/{cid}"

    # the department's resolve form: under the resolution and the draft of the reply
    tech = await Browser(app).login("minh.tech", lang="vi")
    page = await tech.get(url)
    for select_id in ("resolve-resolution-canned", "resolve-reply_draft-canned"):
        found = offered(page.text, select_id)
        assert found[titles["tech"]] == f"Kính gửi Phạm Thị Hoa, về khiếu nại {cid}: tech"
        assert titles["general"] in found
        assert not {titles["billing"], titles["unused"], titles["english"]} & set(found)

    await decide(handle, "resolve", Resolve(actor=TECH_STAFF, cause="Modem lỗi", resolution="Thay modem",
                                            within_authority=True, reply_draft="Chúng tôi đã thay modem."))  # fmt: skip
    await until_stages(sessions, {cid: "ready_to_reply"})
    cs = await Browser(app).login("lan.cs", lang="vi")
    page = await cs.get(url)
    assert titles["tech"] in offered(page.text, "reply-message-canned")
    tech_id = await reply_id(sessions, titles["tech"])

    # "Insert" without script: the form comes back open, as typed, with the reply added; nothing is decided
    typed = {"method": "phone", "message": "Đã gọi cho khách lúc 9 giờ.", "canned_message": str(tech_id)}
    inserted = await cs.submit(url, f"/complaints/{cid}/canned/reply/message", typed)
    assert inserted.status_code == 200, inserted.text
    message = textarea(inserted.text, "reply-message")
    assert message == f"Đã gọi cho khách lúc 9 giờ.\n\nKính gửi Phạm Thị Hoa, về khiếu nại {cid}: tech"
    assert re.search(r'<option value="phone" selected>', inserted.text)
    assert re.search(r'<textarea id="reply-message"[^>]*autofocus', inserted.text)
    assert re.search(r'<details class="decision" open>\s*<summary>Trả lời khách hàng</summary>', inserted.text)
    async with sessions() as session:
        row = await session.get(Complaint, cid)
        assert row is not None and row.stage == "ready_to_reply"

    # a reply the complaint does not offer is refused beside the picker, the text kept as typed
    billing_id = await reply_id(sessions, titles["billing"])
    refused = await cs.submit(
        url, f"/complaints/{cid}/canned/reply/message", typed | {"canned_message": str(billing_id)}
    )
    assert refused.status_code == 422
    assert 'id="reply-message-canned-error"' in refused.text and "Hãy chọn một mẫu trả lời" in refused.text
    assert textarea(refused.text, "reply-message") == typed["message"]
    assert (await cs.submit(url, f"/complaints/{cid}/canned/close/message", typed)).status_code == 404

    # the reply sent carries the filled-in text (personal data, in the decision as any reply)
    sent = await cs.submit(url, f"/complaints/{cid}/actions/reply", {"method": "phone", "message": message})
    assert sent.status_code == 303, sent.text
    await until_stages(sessions, {cid: "replied"})
    assert (await state_of(handle)).reply_message == message
