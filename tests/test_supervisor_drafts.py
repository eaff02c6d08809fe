"""The supervisor's own version of the reply draft, and the category of a complaint resolved on the
spot (issue 13), over HTTP (real app, real dev server, real worker): the edit form prefilled with
the draft in force, refused input kept, the versions with who and when on the complaint page and
in the audit trail, the preview and the signed letter made from the last version; the on-the-spot
form that asks for a category, refuses none, and records it where lists and the trail show it."""

import re
from typing import Any

from fastapi import FastAPI

from store.tables import Complaint
from tests.test_admin_pages import Browser, app, until_stages  # noqa: F401  (app: the fixture)
from tests.test_forms_keep_input import field_error, filed, post, resolved

DEPARTMENT_DRAFT = "Kính gửi anh Bình,\nChúng tôi đã thay modem."
SUPERVISOR_DRAFT = "Chúng tôi đã thay modem mới và kiểm tra đường truyền.\nMọi thắc mắc xin gọi 1900 1234."
MINH, TUAN = "Lê Quang Minh", "Phạm Anh Tuấn"  # minh.tech, tuan.tech (store/seed.py)


def section(html: str, pattern: str) -> str:
    found = re.search(pattern, html, re.S)
    assert found, pattern
    return found.group(0)


def audit_trail(html: str) -> str:
    return section(html, r'<table class="table stacked-on-phone audit">.*?</table>')


async def test_the_supervisor_edits_the_draft_and_signs_the_new_version(app: FastAPI, sessions: Any) -> None:  # noqa: F811
    cs, tech, supervisor = [await Browser(app).login(u, lang="vi") for u in ("lan.cs", "minh.tech", "tuan.tech")]
    url, cid = await filed(cs, sessions, {
        "channel": "post", "name": "Trần Văn Bình", "address": "5 Hai Bà Trưng, Quận 1", "body": "Thư khiếu nại",
        "form_key": "draft-versions"})  # fmt: skip
    await resolved(cs, tech, sessions, url, {"cause": "Modem hỏng", "resolution": "Đã thay modem",
                                             "within_authority": "true", "reply_draft": DEPARTMENT_DRAFT})  # fmt: skip
    await until_stages(sessions, {cid: "awaiting_signature"})

    # Department staff sign nothing and edit nothing; the supervisor is offered the draft in force.
    assert 'data-decision="edit_draft"' not in (await tech.get(url)).text
    denied = await post(tech, url, f"{url}/actions/edit_draft", {"reply_draft": "Thư của tôi"})
    assert denied.status_code == 403
    page = (await supervisor.get(url)).text
    form = section(page, r'data-decision="edit_draft">.*?</form>')
    assert '<textarea id="edit_draft-reply_draft" name="reply_draft"' in form and DEPARTMENT_DRAFT in form

    # A blank draft is refused beside its field, and the reason typed is kept.
    sent = await post(supervisor, url, f"{url}/actions/edit_draft", {"reply_draft": "  ", "reason": "Bỏ lời chào"})
    assert sent.status_code == 422
    assert field_error(sent.text, "edit_draft-reply_draft") == "Trường này là bắt buộc."
    assert "Bỏ lời chào" in sent.text
    # The same text is no new version.
    sent = await post(supervisor, url, f"{url}/actions/edit_draft", {"reply_draft": DEPARTMENT_DRAFT})
    assert sent.status_code == 422

    done = await post(supervisor, url, f"{url}/actions/edit_draft",
                      {"reply_draft": SUPERVISOR_DRAFT, "reason": "Bỏ lời chào trùng với thư"})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].endswith("?done=edit_draft")

    page = (await supervisor.get(url)).text
    draft = section(page, r'<section class="reply-draft".*?</section>')
    assert SUPERVISOR_DRAFT in draft
    assert re.search(
        rf'data-version="2">Phiên bản 2 · phiên bản hiện hành · {TUAN} · [^<]* · Lý do: Bỏ lời chào', draft
    )
    earlier = section(draft, r'<details class="draft-versions">.*?</details>')
    assert re.search(rf'data-version="1"><p class="muted small">Phiên bản 1 · {MINH} · ', earlier)
    assert DEPARTMENT_DRAFT in earlier
    trail = audit_trail(page)
    assert "Sửa dự thảo trả lời" in trail and 'data-draft-version="2">Dự thảo phiên bản 2<' in trail
    assert 'data-draft-version="1">Dự thảo phiên bản 1<' in trail  # the department's, at its resolve
    assert SUPERVISOR_DRAFT in trail and "Dự thảo trả lời</em>" in trail

    # What the supervisor reads before signing and what is signed: the latest version.
    preview = (await supervisor.get(f"{url}/letter/preview")).text
    assert "Mọi thắc mắc xin gọi 1900 1234." in preview and "Chúng tôi đã thay modem." not in preview
    signed = await post(supervisor, url, f"{url}/actions/sign_reply", {"approved": "true"})
    assert signed.status_code == 303
    await until_stages(sessions, {cid: "replied"})
    letter = (await cs.get(f"{url}/letter")).text
    assert "Mọi thắc mắc xin gọi 1900 1234." in letter and "Chúng tôi đã thay modem." not in letter

    english = await Browser(app).login("quang.manager", lang="en")
    page = (await english.get(url)).text
    assert "Version 2 · current version" in page and "Draft version 2" in page


async def test_a_complaint_resolved_on_the_spot_records_its_category(app: FastAPI, sessions: Any) -> None:  # noqa: F811
    cs = await Browser(app).login("lan.cs", lang="vi")
    url, cid = await filed(cs, sessions, {
        "channel": "in_person", "name": "Lê Thị Hoa", "phone": "0907654321", "body": "Hoá đơn ghi sai tên",
        "form_key": "on-the-spot-category"})  # fmt: skip
    form = section((await cs.get(url)).text, r'data-decision="resolve_on_spot">.*?</form>')
    # the category is asked for (marked, nothing chosen until the agent chooses), from the vocabulary
    assert re.search(r'<label for="resolve_on_spot-category">Phân loại <span class="required"', form)
    select = section(form, r'<select id="resolve_on_spot-category" name="category" required>.*?</select>')
    assert '<option value="">Chọn phân loại</option>' in select and 'value="billing"' in select

    typed = {"agreement": "Sửa tên trên hóa đơn tháng sau", "cause": "Nhập sai tên khi đăng ký"}
    sent = await post(cs, url, f"{url}/actions/resolve_on_spot", typed | {"category": ""})
    assert sent.status_code == 422
    assert field_error(sent.text, "resolve_on_spot-category") == "Vui lòng chọn phân loại trong danh sách."
    assert all(value in sent.text for value in typed.values())
    sent = await post(cs, url, f"{url}/actions/resolve_on_spot", typed | {"category": "weather"})
    assert sent.status_code == 422 and field_error(sent.text, "resolve_on_spot-category")

    done = await post(cs, url, f"{url}/actions/resolve_on_spot", typed | {"category": "billing"})
    assert done.status_code == 303, done.text
    await until_stages(sessions, {cid: "closed"})
    async with sessions() as session:
        row = await session.get(Complaint, cid)
        assert row is not None and row.category == "billing"
    page = (await cs.get(url)).text
    assert "Phân loại</dt><dd>Cước phí và thanh toán<" in page
    assert "Phân loại</em>: Cước phí và thanh toán" in audit_trail(page)
    listed = (await cs.get("/complaints?category=billing&channel=in_person")).text
    row_html = section(listed, rf'<td data-label="ID"><a href="/complaints/{cid}">.*?</tr>')
    assert 'data-category="billing">Cước phí và thanh toán<' in row_html
