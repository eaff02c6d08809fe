"""Forms that staff fill in: a letter's received date is read in Vietnam time; a refused form
comes back with what was typed and the reason beside its field, in the user's language; every
decision form does so. Real app, real dev server and worker."""

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from domain.sla import VN_TZ
from store.tables import Complaint
from tests.test_admin_pages import Browser, app, csrf, until_stages  # noqa: F401  (app: the fixture)

ENGLISH_DETAIL = re.compile(r"String should|Field required|Input should|Value error")


def field_error(page: str, form_field_id: str) -> str:
    found = re.search(rf'id="{re.escape(form_field_id)}-error">([^<]+)<', page)
    assert found, f"no error beside {form_field_id}"
    return found.group(1)


async def post(browser: Browser, page_url: str, action: str, data: dict[str, str]) -> httpx.Response:
    page = await browser.http.get(page_url)
    return await browser.http.post(action, data=data | {"csrf_token": csrf(page.text)})


async def test_a_letter_received_three_days_ago_keeps_its_date(app: FastAPI, sessions: Any) -> None:  # noqa: F811
    cs = await Browser(app).login("lan.cs")
    arrived = (datetime.now(VN_TZ) - timedelta(days=3)).replace(second=0, microsecond=0, tzinfo=None)
    sent = await post(cs, "/complaints/new", "/complaints/new", {
        "channel": "post", "name": "Trần Văn Bình", "address": "12 Lê Lợi, Quận 1", "subject": "Cước sai",
        "body": "Thư khiếu nại cước tháng 10", "received_at": arrived.isoformat(timespec="minutes"),
        "form_key": "letter-3-days"})  # fmt: skip
    assert sent.status_code == 303, sent.text
    complaint_id = sent.headers["location"].split("/")[-1].split("?")[0]
    await until_stages(sessions, {complaint_id: "received"})
    async with sessions() as session:
        row = await session.scalar(select(Complaint).where(Complaint.id == complaint_id))
    assert row is not None
    assert row.received_at == arrived.replace(tzinfo=VN_TZ)
    assert row.deadline == arrived.replace(tzinfo=VN_TZ) + timedelta(days=20)


async def test_a_refused_new_complaint_keeps_what_was_typed(app: FastAPI) -> None:  # noqa: F811
    cs = await Browser(app).login("lan.cs")
    typed = {"channel": "email", "name": "Trần Văn Bình", "phone": "0901 234 567", "subject": "Mạng chậm",
             "body": "Mạng chậm từ ba hôm nay, xin kiểm tra giúp.", "form_key": "no-email"}  # fmt: skip
    refused = await post(cs, "/complaints/new", "/complaints/new", typed)
    assert refused.status_code == 422
    for value in ("Trần Văn Bình", "0901 234 567", "Mạng chậm từ ba hôm nay, xin kiểm tra giúp."):
        assert value in refused.text, value
    assert field_error(refused.text, "email") == "Khiếu nại qua email cần có email của khách hàng."
    assert 'class="whoami-name"' in refused.text  # the layout, the menu and the user stay
    assert not ENGLISH_DETAIL.search(refused.text)

    future = (datetime.now(VN_TZ) + timedelta(days=2)).replace(tzinfo=None).isoformat(timespec="minutes")
    refused = await post(cs, "/complaints/new", "/complaints/new", typed | {"channel": "phone", "received_at": future})
    assert refused.status_code == 422
    assert field_error(refused.text, "received_at") == "Ngày tiếp nhận không thể ở tương lai."
    assert "Trần Văn Bình" in refused.text


# decision -> (who, the stage to reach first, a refused form: one field blank, the others typed)
REFUSED_FORMS: dict[str, dict[str, str]] = {
    "verify": {"summary": "   ", "category": "technical", "priority": "high"},
    "reject": {"reason": " ", "duplicate_of": ""},
    "note": {"text": "  "},
    "resolve": {
        "cause": "   ",
        "resolution": "Đã thay modem",
        "within_authority": "true",
        "reply_draft": "Kính gửi anh Bình, chúng tôi đã thay modem.",
    },
    "escalate": {"reason": "  "},
    "reroute": {"department": "BILLING", "reason": "  "},
    "decide": {"decision": "reroute", "instructions": "Chuyển kế toán xử lý", "department": ""},
    "reply": {"method": "phone", "message": "   "},
    "close": {"root_cause": "Modem hỏng", "lessons_learned": "  ", "preventive_action": "Kiểm tra định kỳ"},
    "reopen": {"reason": "   "},
    "customer_message": {"text": "  ", "via": "phone", "reopen_requested": "false"},
}
BLANK = {"verify": "summary", "reject": "reason", "note": "text", "resolve": "cause", "escalate": "reason",
         "reroute": "reason", "decide": "department", "reply": "message", "close": "lessons_learned",
         "reopen": "reason", "customer_message": "text"}  # fmt: skip
VALID: dict[str, dict[str, str]] = {
    "verify": {"summary": "Mất kết nối", "category": "technical"},
    "escalate": {"reason": "Cần thay cáp trục"},
    "decide": {"decision": "approve", "instructions": "Đồng ý thay cáp"},
    "reply": {"method": "phone", "message": "Đã gọi báo khách"},
    "close": {"root_cause": "Cáp hỏng", "lessons_learned": "Kiểm tra cáp định kỳ"},
}


async def filed(cs: Browser, sessions: Any, form: dict[str, str]) -> tuple[str, str]:
    """File through the form; the complaint's page and id once it is projected."""
    sent = await post(cs, "/complaints/new", "/complaints/new", form)
    url = sent.headers["location"].split("?")[0]
    cid = url.split("/")[-1]
    await until_stages(sessions, {cid: "received"})
    return url, cid


async def resolved(cs: Browser, tech: Browser, sessions: Any, url: str, resolution: dict[str, str]) -> None:
    """Verified by CS, then resolved by the department within its authority."""
    cid = url.split("/")[-1]
    assert (await post(cs, url, f"{url}/actions/verify", VALID["verify"])).status_code == 303
    await until_stages(sessions, {cid: "in_progress"})
    assert (await post(tech, url, f"{url}/actions/resolve", resolution)).status_code == 303


async def _refused_keeps_input(browser: Browser, url: str, decision: str) -> None:
    form = REFUSED_FORMS[decision]
    sent = await post(browser, url, f"{url}/actions/{decision}", form)
    assert sent.status_code == 422, (decision, sent.status_code)
    blank = BLANK[decision]
    assert field_error(sent.text, f"{decision}-{blank}") in (
        "Trường này là bắt buộc.",
        "Hãy chọn bộ phận sẽ chuyển đến.",
    )
    for field, value in form.items():
        if field != blank and value.strip() and field not in ("category", "priority", "method", "decision",
                                                             "within_authority", "department", "via",
                                                             "reopen_requested"):  # fmt: skip
            assert value in sent.text, (decision, field)
    assert not ENGLISH_DETAIL.search(sent.text), decision


async def test_every_refused_decision_form_keeps_its_input(app: FastAPI, sessions: Any) -> None:  # noqa: F811
    cs, tech, supervisor = [await Browser(app).login(u) for u in ("lan.cs", "minh.tech", "tuan.tech")]
    filed = await post(cs, "/complaints/new", "/complaints/new", {
        "channel": "phone", "name": "Trần Văn Bình", "phone": "0901234567", "body": "Mạng mất liên tục",
        "form_key": "decisions"})  # fmt: skip
    url = filed.headers["location"].split("?")[0]
    cid = url.split("/")[-1]
    await until_stages(sessions, {cid: "received"})
    for decision in ("verify", "reject", "note"):
        await _refused_keeps_input(cs, url, decision)
    assert (await post(cs, url, f"{url}/actions/verify", VALID["verify"])).status_code == 303
    await until_stages(sessions, {cid: "in_progress"})
    for browser, decision in ((tech, "resolve"), (tech, "escalate"), (cs, "reroute"), (cs, "customer_message")):
        await _refused_keeps_input(browser, url, decision)
    assert (await post(tech, url, f"{url}/actions/escalate", VALID["escalate"])).status_code == 303
    await until_stages(sessions, {cid: "escalated"})
    await _refused_keeps_input(supervisor, url, "decide")
    assert (await post(supervisor, url, f"{url}/actions/decide", VALID["decide"])).status_code == 303
    await until_stages(sessions, {cid: "ready_to_reply"})
    await _refused_keeps_input(cs, url, "reply")
    assert (await post(cs, url, f"{url}/actions/reply", VALID["reply"])).status_code == 303
    await until_stages(sessions, {cid: "replied"})
    await _refused_keeps_input(tech, url, "close")
    assert (await post(tech, url, f"{url}/actions/close", VALID["close"])).status_code == 303
    await until_stages(sessions, {cid: "closed"})
    await _refused_keeps_input(cs, url, "reopen")


async def test_the_on_the_spot_and_signature_forms_keep_their_input(app: FastAPI, sessions: Any) -> None:  # noqa: F811
    cs, tech, supervisor = [await Browser(app).login(u) for u in ("lan.cs", "minh.tech", "tuan.tech")]
    in_person = await post(cs, "/complaints/new", "/complaints/new", {
        "channel": "in_person", "name": "Lê Thị Hoa", "phone": "0907654321", "body": "Hoá đơn ghi sai tên",
        "form_key": "on-the-spot"})  # fmt: skip
    url = in_person.headers["location"].split("?")[0]
    await until_stages(sessions, {url.split("/")[-1]: "received"})
    sent = await post(cs, url, f"{url}/actions/resolve_on_spot", {"agreement": "  ", "cause": "Nhập sai tên"})
    assert sent.status_code == 422
    assert field_error(sent.text, "resolve_on_spot-agreement") == "Trường này là bắt buộc."
    assert "Nhập sai tên" in sent.text

    url, cid = await filed(cs, sessions, {
        "channel": "post", "name": "Lê Thị Hoa", "address": "5 Hai Bà Trưng, Quận 1", "body": "Thư khiếu nại",
        "form_key": "signature"})  # fmt: skip
    draft = "Kính gửi chị Hoa,\nChúng tôi đã thay modem."
    await resolved(cs, tech, sessions, url, {"cause": "Modem hỏng", "resolution": "Đã thay modem",
                                             "within_authority": "true", "reply_draft": draft})  # fmt: skip
    await until_stages(sessions, {cid: "awaiting_signature"})
    # The supervisor reads the letter as it will be issued before signing, and is asked to confirm.
    page = (await supervisor.http.get(url)).text
    assert f'src="{url}/letter/preview"' in page
    assert re.search(r'data-decision="sign_reply".*?data-confirm=', page, re.DOTALL)
    preview = await supervisor.http.get(f"{url}/letter/preview")
    assert preview.status_code == 200 and "Chúng tôi đã thay modem." in preview.text
    assert preview.text.count("Kính gửi") == 1
    sent = await post(supervisor, url, f"{url}/actions/sign_reply", {"approved": "false", "comment": " "})
    assert sent.status_code == 422
    assert field_error(sent.text, "sign_reply-comment") == "Hãy nêu lý do từ chối ký."
    assert re.search(r'<option value="false" selected>', sent.text)


async def test_the_reply_form_starts_with_the_departments_draft(app: FastAPI, sessions: Any) -> None:  # noqa: F811
    cs, tech = [await Browser(app).login(u) for u in ("lan.cs", "minh.tech")]
    url, cid = await filed(cs, sessions, {
        "channel": "phone", "name": "Trần Văn Bình", "phone": "0901234567", "body": "Mạng mất liên tục",
        "form_key": "prefilled-reply"})  # fmt: skip
    draft = "Chúng tôi đã thay modem.\nĐường truyền đã ổn định."
    await resolved(cs, tech, sessions, url, {"cause": "Modem hỏng", "resolution": "Thay modem",
                                             "within_authority": "true", "reply_draft": draft})  # fmt: skip
    await until_stages(sessions, {cid: "ready_to_reply"})
    page = (await cs.http.get(url)).text
    found = re.search(r'<textarea id="reply-message"[^>]*>([^<]*)</textarea>', page)
    assert found and found.group(1) == draft
