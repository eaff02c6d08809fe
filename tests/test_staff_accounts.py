"""Staff accounts from the administration page over HTTP (real app, real store, dev server):
creating one (a bad one refused beside its fields, in the user's language, input kept), an
administrator's reset giving a temporary password that must be replaced at the next login
before anything else opens, and deactivation still signing the person out."""

import re
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from admin.accounts import set_account
from domain.vocabulary import Role
from store.engine import transaction
from store.tables import Staff
from tests.conftest import Sessions
from tests.test_admin_pages import PASSWORD, Browser, app, csrf  # noqa: F401


def temporary_password(page: httpx.Response) -> str:
    found = re.search(r"data-temporary-password>([^<]+)<", page.text)
    assert found, "no temporary password shown"
    return found.group(1)


async def sign_in(application: FastAPI, username: str, password: str) -> tuple[Browser, httpx.Response]:
    person = Browser(application)
    page = await person.http.get("/login")
    done = await person.http.post("/login", data={"username": username, "password": password,
                                                  "csrf_token": csrf(page.text)})  # fmt: skip
    return person, done


async def staff_row(sessions: Sessions, username: str) -> Staff | None:
    async with sessions() as session:
        found: Staff | None = await session.scalar(select(Staff).where(Staff.username == username))
        return found


async def test_an_administrator_creates_an_account_that_must_choose_its_password(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
) -> None:
    username = f"hoa.{uuid.uuid4().hex[:6]}"
    admin = await Browser(app).login("admin", lang="en")
    page = await admin.get("/admin/staff")
    assert 'action="/admin/staff"' in page.text and "Add an account" in page.text
    new = {"username": username, "full_name": "Nguyễn Thị Hoa", "email": f"{username}@luarong.vn",
           "role": "department_staff", "department": "TECH"}  # fmt: skip
    created = await admin.submit("/admin/staff", "/admin/staff", new)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    password = temporary_password(created)
    assert f"Temporary password for {username}" in created.text
    staff = await staff_row(sessions, username)
    assert staff is not None and staff.must_change_password and staff.active
    assert (staff.full_name, staff.role, staff.department_code) == ("Nguyễn Thị Hoa", "department_staff", "TECH")
    assert password not in (await admin.get("/admin/staff")).text  # shown once

    person, done = await sign_in(app, username, password)
    assert done.status_code == 303
    assert (await person.http.get("/")).headers["location"] == "/password"


async def test_a_bad_account_is_refused_beside_its_fields_with_what_was_typed(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
) -> None:
    admin = await Browser(app).login("admin", lang="vi")
    typed = {"username": "Tên Sai!", "full_name": "Trần Văn Bình", "email": "không-phải-thư",
             "role": "cs_agent", "department": ""}  # fmt: skip
    refused = await admin.submit("/admin/staff", "/admin/staff", typed)
    assert refused.status_code == 422
    text = refused.text
    assert "Tài khoản chưa được tạo" in text
    errors = dict(re.findall(r'<p class="field-error" id="new-(\w+)-error">([^<]+)</p>', text))
    assert set(errors) == {"username", "email", "department"}, errors
    assert errors["username"].startswith("Từ 2 đến 100 ký tự")
    assert errors["department"] == "Vai trò này cần có bộ phận."
    assert 'value="Trần Văn Bình"' in text and 'value="không-phải-thư"' in text and 'value="tên sai!"' in text
    assert '<option value="cs_agent" selected>' in text
    assert await staff_row(sessions, "tên sai!") is None

    taken = await admin.submit("/admin/staff", "/admin/staff", typed | {"username": "lan.cs", "email": "",
                                                                        "department": "CS"})  # fmt: skip
    assert taken.status_code == 422 and "Tên đăng nhập lan.cs đã có người dùng." in taken.text


async def test_a_reset_password_must_be_replaced_before_anything_else(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
) -> None:
    username = f"reset.{uuid.uuid4().hex[:6]}"
    async with transaction(sessions) as session:
        await set_account(session, username, Role.CS_AGENT, "CS", PASSWORD, full_name="Lê Văn Đặt")
    before = await Browser(app).login(username, lang="en")
    assert (await before.http.get("/")).status_code == 200

    admin = await Browser(app).login("admin", lang="en")
    reset = await admin.submit("/admin/staff", f"/admin/staff/{username}/password", {})
    assert reset.status_code == 200, reset.text
    temporary = temporary_password(reset)
    assert (await before.http.get("/")).headers["location"] == "/login"  # signed out everywhere
    assert (await sign_in(app, username, PASSWORD))[1].status_code == 401  # the old password is gone

    person, done = await sign_in(app, username, temporary)
    assert done.status_code == 303
    for path in ("/", "/complaints", "/complaints/new", "/dashboard", "/mails"):
        assert (await person.http.get(path)).headers.get("location") == "/password", path
    api = await person.http.get("/api/v1/complaints")
    assert api.status_code == 403 and api.json()["error"] == "password_change_required"
    assert (await person.http.get("/api/v1/me/queues")).status_code == 403
    page = await person.get("/password")
    assert page.status_code == 200 and 'class="mainnav"' not in page.text  # no menu to wander off through

    async def change(current: str, new: str, again: str) -> httpx.Response:
        return await person.submit("/password", "/password", {"current_password": current, "new_password": new,
                                                             "new_password_again": again})  # fmt: skip

    new_password = "mật-khẩu-của-tôi-2026"
    assert "This is not your current password." in (await change("sai", new_password, new_password)).text
    short = await change(temporary, "ngắn", "ngắn")
    assert short.status_code == 422 and "at least 8 characters" in short.text
    differ = await change(temporary, new_password, new_password + "x")
    assert differ.status_code == 422 and "The two new passwords differ." in differ.text
    assert temporary not in differ.text and new_password not in differ.text  # never sent back
    assert (await person.http.get("/")).headers.get("location") == "/password"  # still locked in

    changed = await change(temporary, new_password, new_password)
    assert changed.status_code == 303 and changed.headers["location"] == "/"
    assert (await person.http.get("/")).status_code == 200
    assert (await person.http.get("/api/v1/complaints")).status_code == 200
    staff = await staff_row(sessions, username)
    assert staff is not None and not staff.must_change_password
    assert (await sign_in(app, username, temporary))[1].status_code == 401
    assert (await sign_in(app, username, new_password))[1].status_code == 303


async def test_deactivating_a_created_account_still_signs_it_out(
    app: FastAPI,  # noqa: F811
    sessions: Sessions,
) -> None:
    username = f"off.{uuid.uuid4().hex[:6]}"
    admin = await Browser(app).login("admin", lang="en")
    new = {"username": username, "full_name": "Phạm Văn Tắt", "email": "", "role": "manager", "department": ""}
    temporary = temporary_password(await admin.submit("/admin/staff", "/admin/staff", new))
    person, _ = await sign_in(app, username, temporary)
    await person.submit("/password", "/password", {"current_password": temporary, "new_password": PASSWORD,
                                                   "new_password_again": PASSWORD})  # fmt: skip
    assert (await person.http.get("/")).status_code == 200
    row = {"full_name": "Phạm Văn Tắt", "email": "", "role": "manager", "department": ""}  # "active" unticked
    saved = await admin.submit("/admin/staff", f"/admin/staff/{username}", row)
    assert saved.status_code == 303, saved.text
    assert (await person.http.get("/")).headers["location"] == "/login"
    assert (await sign_in(app, username, PASSWORD))[1].status_code == 401
