"""Error pages keep the layout, the menu and the user, and say specifically what went wrong in
the user's language; a login lands on the page that was asked for."""

import re
from urllib.parse import quote

from fastapi import FastAPI

from tests.test_admin_pages import PASSWORD, Browser, app, csrf  # noqa: F401  (app: the fixture)


async def test_error_pages_keep_the_menu_and_speak_the_users_language(app: FastAPI) -> None:  # noqa: F811
    tech = await Browser(app).login("minh.tech")
    missing = await tech.http.get("/complaints/KN-ZZZZZZ")
    assert missing.status_code == 404
    assert "Không có khiếu nại KN-ZZZZZZ." in missing.text
    assert 'class="whoami-name"' in missing.text and 'class="mainnav"' in missing.text
    mail = await tech.http.get("/mails")
    assert mail.status_code == 403
    assert "Chỉ Bộ phận Dịch vụ khách hàng, quản lý và quản trị hệ thống mới được đọc thư này." in mail.text
    assert "khiếu nại này" not in mail.text  # not about "this complaint"
    cursor = await tech.http.get("/complaints?after=not-a-cursor")
    assert cursor.status_code == 422
    assert "Trang danh sách này không còn hợp lệ" in cursor.text
    assert "invalid cursor" not in cursor.text


async def test_a_login_lands_on_the_page_asked_for(app: FastAPI) -> None:  # noqa: F811
    browser = Browser(app)
    asked = "/complaints?stage=received"
    sent_away = await browser.http.get(asked)
    assert sent_away.status_code == 303
    assert sent_away.headers["location"] == f"/login?next={quote(asked, safe='')}"
    page = await browser.http.get(sent_away.headers["location"])
    assert re.search(r'name="next" value="/complaints\?stage=received"', page.text)
    signed_in = await browser.http.post("/login", data={"username": "lan.cs", "password": PASSWORD,
                                                        "next": asked, "csrf_token": csrf(page.text)})  # fmt: skip
    assert signed_in.status_code == 303 and signed_in.headers["location"] == asked
    # Never to another site.
    page = await Browser(app).http.get("/login?next=//evil.example/x")
    assert 'name="next" value="/"' in page.text
