"""The dashboard, the administration pages and the mail viewer over HTTP (real app, real dev
server, real worker): numbers that match the complaints filed, who may read and who may edit,
CSRF, refused input re-rendered with a refusal, escaping, and no path escapes in the mail viewer."""

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.app import create_app
from admin.errors import ServiceError
from admin.routes.administration import iso_duration
from admin.services.mailbox import mail_path
from config.settings import Settings
from domain.models import Actor, Close, Escalate, Reply, Resolve, Verify
from domain.sla import CalendarKind
from domain.vocabulary import DEFAULT_ROUTING, Category, Channel, ReplyMethod, Role
from intake.filing import file_complaint
from store.engine import transaction
from store.tables import Complaint, Department, RoutingRule, Staff
from tests.conftest import Sessions
from tests.journey import CS, decide, intake, running_worker

PASSWORD = "mật-khẩu-demo-1"
ACCOUNTS = {"admin": (Role.ADMIN, None), "quang.manager": (Role.MANAGER, None), "lan.cs": (Role.CS_AGENT, "CS"),
            "minh.tech": (Role.DEPARTMENT_STAFF, "TECH"), "tuan.tech": (Role.SUPERVISOR, "TECH")}  # fmt: skip
ADMIN_PAGES = ["/admin/staff", "/admin/departments", "/admin/routing", "/admin/sla"]
XSS = "<script>alert('kn')</script>"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def assert_escaped(page: httpx.Response) -> None:
    assert "<script>alert" not in page.text, page.url
    assert "Traceback" not in page.text


class Browser:
    def __init__(self, app: FastAPI) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test")

    async def login(self, username: str, lang: str = "vi") -> "Browser":
        """Signed in as ``username``, in ``lang`` (the language is remembered per user, and the
        store is shared by the session's tests: a test that reads text says which it expects)."""
        page = await self.http.get("/login")
        done = await self.http.post("/login", data={"username": username, "password": PASSWORD,
                                                    "csrf_token": csrf(page.text)})  # fmt: skip
        assert done.status_code == 303, done.text
        home = await self.http.get("/")
        await self.http.post("/language", data={"lang": lang, "next": "/", "csrf_token": csrf(home.text)})
        return self

    async def get(self, url: str) -> httpx.Response:
        page = await self.http.get(url)
        assert_escaped(page)
        return page

    async def submit(self, page_url: str, action: str, data: dict[str, str]) -> httpx.Response:
        page = await self.http.get(page_url)
        sent = await self.http.post(action, data=data | {"csrf_token": csrf(page.text)})
        assert_escaped(sent)
        return sent


def with_admin_pages(settings: Settings, dev_env: WorkflowEnvironment) -> Any:
    return create_app(settings, temporal=dev_env.client)


@pytest.fixture
async def app(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[FastAPI]:
    async with transaction(sessions) as session:
        for username, (role, department) in ACCOUNTS.items():
            await set_account(session, username, role, department, PASSWORD)
    application = with_admin_pages(settings, dev_env)
    async with running_worker(dev_env.client, settings, sessions), application.router.lifespan_context(application):
        yield application


def metric(html: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}">([^<]*)<', html)
    assert found, f"no metric {name}"
    return found.group(1).strip()


def count(html: str, attribute: str, value: str) -> int | None:
    found = re.search(rf'data-{attribute}="{re.escape(value)}">(\d+)<', html)
    return int(found.group(1)) if found else None


async def until_stages(sessions: Any, expected: dict[str, str], timeout: float = 90) -> None:
    """Wait until the worker has projected each complaint at its expected stage."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with sessions() as session:
            query = select(Complaint.id, Complaint.stage).where(Complaint.id.in_(expected))
            stages = dict((await session.execute(query)).tuples().all())
        if stages == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"projection did not reach {expected}: {stages}")
        await asyncio.sleep(0.2)


async def test_dashboard_counts_what_was_filed(app: FastAPI, dev_env: WorkflowEnvironment, settings: Settings,
                                               sessions: Any) -> None:  # fmt: skip
    suffix = uuid.uuid4().hex[:6].upper()
    code, person = f"QA_{suffix}", f"qa.{suffix.lower()}"
    async with transaction(sessions) as session:
        await set_account(session, person, Role.DEPARTMENT_STAFF, "TECH", PASSWORD, full_name="Kiểm Thử")
    admin = await Browser(app).login("admin")

    # The administrator opens a department, moves a person into it and routes "other" there.
    new = {"code": code, "name_vi": f"Kiểm thử {XSS}", "name_en": "QA", "email": "qa@luarong.vn"}
    added = await admin.submit("/admin/departments", "/admin/departments", new)
    assert added.status_code == 303
    moved = await admin.submit("/admin/staff", f"/admin/staff/{person}", {
        "full_name": "Kiểm Thử", "email": f"{person}@luarong.vn", "role": "department_staff", "department": code,
        "active": "on"})  # fmt: skip
    assert moved.status_code == 303 and moved.headers["location"].startswith("/admin/staff?saved=")
    async with sessions() as session:
        staff = await session.scalar(select(Staff).where(Staff.username == person))
        assert staff is not None and staff.department_code == code and staff.active
    try:
        routed = await admin.submit("/admin/routing", "/admin/routing", {"category": "other", "department": code})
        assert routed.status_code == 303
        async with sessions() as session:
            assert (await session.get(RoutingRule, "other")).department_code == code
        routing = await admin.get("/admin/routing")
        assert f'<option value="{code}" selected>' in routing.text

        qa = Actor(user=person, role=Role.DEPARTMENT_STAFF, department=code)
        now = datetime.now(UTC)
        client = dev_env.client

        async def filed(days_ago: float) -> Any:
            complaint = intake(Channel.PHONE).model_copy(update={"received_at": now - timedelta(days=days_ago)})
            cid = (await file_complaint(client, settings, complaint)).complaint_id
            handle = client.get_workflow_handle(cid)
            await decide(handle, "verify", Verify(actor=CS, summary="Kiểm thử tổng quan", category=Category.OTHER))
            return handle

        async def closed(handle: Any) -> None:
            await decide(handle, "resolve", Resolve(actor=qa, cause="Lỗi cấu hình", resolution="Cấu hình lại",
                                                    within_authority=True, reply_draft="Đã khắc phục"))  # fmt: skip
            await decide(handle, "reply", Reply(actor=CS, method=ReplyMethod.PHONE, message="Đã gọi báo khách"))
            await decide(handle, "close", Close(actor=qa, root_cause="Cấu hình", lessons_learned="Kiểm tra kỹ"))

        fresh, due_soon, overdue = await filed(0), await filed(18), await filed(25)
        escalated, in_bound, late = await filed(0), await filed(0), await filed(25)
        await decide(escalated, "escalate", Escalate(actor=qa, reason="Vượt thẩm quyền"))
        await closed(in_bound)
        await closed(late)
        await until_stages(sessions, {fresh.id: "in_progress", due_soon.id: "in_progress", overdue.id: "in_progress",
                                      escalated.id: "escalated", in_bound.id: "closed", late.id: "closed"})  # fmt: skip
        async with sessions() as session:
            rows = (await session.scalars(select(Complaint).where(Complaint.department_code == code))).all()
            assert len(rows) == 6

        mine = await (await Browser(app).login(person)).get("/dashboard")
        assert mine.status_code == 200
        assert metric(mine.text, "open") == "4"
        assert metric(mine.text, "overdue") == "1"
        assert metric(mine.text, "due-soon") == "1"
        assert metric(mine.text, "closed-in-bound") == "50%"
        assert count(mine.text, "stage", "in_progress") == 3
        assert count(mine.text, "stage", "escalated") == 1
        assert count(mine.text, "stage", "received") == 0
        assert count(mine.text, "department", code) == 4
        assert count(mine.text, "department", "TECH") is None  # their department only
        assert "Chỉ bộ phận Kiểm thử &lt;script&gt;" in mine.text  # its name, not its code

        tech = await (await Browser(app).login("minh.tech")).get("/dashboard")
        assert count(tech.text, "department", code) is None and count(tech.text, "department", "TECH") is not None

        everything = await admin.get("/dashboard")
        assert count(everything.text, "department", code) == 4
        assert count(everything.text, "department", "TECH") is not None
        assert "Kiểm thử &lt;script&gt;" in everything.text  # the department's name, escaped
        assert int(metric(everything.text, "open")) >= 4
        departments = await admin.get("/admin/departments")
        assert f'data-code="{code}"' in departments.text and "Kiểm thử &lt;script&gt;" in departments.text
    finally:
        async with transaction(sessions) as session:
            rule = await session.get(RoutingRule, "other")
            if rule is not None:
                rule.department_code = DEFAULT_ROUTING[Category.OTHER]


async def test_dashboard_without_closed_complaints_shows_a_dash(app: FastAPI, sessions: Any) -> None:
    code = f"NONE_{uuid.uuid4().hex[:6].upper()}"
    async with transaction(sessions) as session:
        session.add(Department(code=code, name_vi="Trống", name_en="Empty", email=None))
        await session.flush()
        await set_account(session, "empty.staff", Role.SUPERVISOR, code, PASSWORD)
    page = await (await Browser(app).login("empty.staff")).get("/dashboard")
    assert metric(page.text, "closed-in-bound") == "—"
    assert metric(page.text, "open") == metric(page.text, "overdue") == metric(page.text, "due-soon") == "0"


async def test_who_may_read_and_who_may_edit(app: FastAPI, sessions: Any) -> None:
    manager = await Browser(app).login("quang.manager")
    for url in ADMIN_PAGES:
        page = await manager.get(url)
        assert page.status_code == 200, url
        assert "<form id=" not in page.text and 'action="/admin/' not in page.text, url  # read only
    staff_page = await manager.get("/admin/staff")
    assert "minh.tech" in staff_page.text and "Nhân viên bộ phận" in staff_page.text
    refused = await manager.submit("/admin/routing", "/admin/routing", {"category": "technical", "department": "SALES"})
    assert refused.status_code == 403
    refused = await manager.submit("/admin/staff", "/admin/staff/minh.tech", {
        "full_name": "X", "role": "manager", "department": "", "active": "on"})  # fmt: skip
    assert refused.status_code == 403
    async with sessions() as session:
        assert (await session.get(RoutingRule, "technical")).department_code == "TECH"
        minh = await session.scalar(select(Staff).where(Staff.username == "minh.tech"))
        assert minh is not None and minh.role == "department_staff"

    for username in ("minh.tech", "tuan.tech", "lan.cs"):
        browser = await Browser(app).login(username)
        for url in ADMIN_PAGES:
            assert (await browser.get(url)).status_code == 403, (username, url)
        dashboard = await browser.get("/dashboard")
        assert dashboard.status_code == 200
        forged = await browser.submit("/dashboard", "/admin/routing", {"category": "technical", "department": "SALES"})
        assert forged.status_code == 403

    anonymous = Browser(app)
    for url in ["/dashboard", *ADMIN_PAGES, "/mails"]:
        assert (await anonymous.http.get(url)).headers.get("location") == f"/login?next={quote(url, safe='')}", url

    admin = await Browser(app).login("admin")
    for url in ADMIN_PAGES:
        assert (await admin.get(url)).status_code == 200
    assert 'action="/admin/staff/minh.tech"' in (await admin.get("/admin/staff")).text
    no_token = await admin.http.post("/admin/routing", data={"category": "technical", "department": "SALES"})
    assert no_token.status_code == 403
    no_token = await admin.http.post("/admin/departments", data={"code": "NOCSRF", "name_vi": "a", "name_en": "b"})
    assert no_token.status_code == 403
    async with sessions() as session:
        assert await session.get(Department, "NOCSRF") is None


@pytest.mark.parametrize("code", ["1AB", "A", "AB-C", "TECH", "A" * 21, ""])
async def test_a_bad_department_code_is_refused_inline(app: FastAPI, sessions: Any, code: str) -> None:
    admin = await Browser(app).login("admin")
    page = await admin.submit("/admin/departments", "/admin/departments",
                              {"code": code, "name_vi": "Phòng mới", "name_en": "New", "email": ""})  # fmt: skip
    assert page.status_code == 422 and 'class="refusal"' in page.text
    assert 'value="Phòng mới"' in page.text  # what was typed is kept
    async with sessions() as session:
        assert (await session.get(Department, "TECH")).name_vi == "Kỹ thuật"


async def test_bad_input_is_refused_inline(app: FastAPI, sessions: Any) -> None:
    admin = await Browser(app).login("admin")
    base = {"full_name": "Lê Quang Minh", "email": "minh.tech@luarong.vn", "role": "department_staff",
            "department": "TECH", "active": "on"}  # fmt: skip
    for bad in ({"role": "system"}, {"department": "NOPE"}, {"department": ""}, {"email": "not-an-email"},
                {"full_name": ""}):  # fmt: skip
        page = await admin.submit("/admin/staff", "/admin/staff/minh.tech", base | bad)
        assert page.status_code == 422 and 'class="refusal"' in page.text, bad
    lockout = await admin.submit("/admin/staff", "/admin/staff/admin", {
        "full_name": "Quản trị", "role": "manager", "department": "", "active": "on"})  # fmt: skip
    assert lockout.status_code == 422 and "quyền quản trị" in lockout.text
    unknown = await admin.submit("/admin/staff", "/admin/staff/nobody.here", base)
    assert unknown.status_code == 404
    for bad in ({"category": "technical", "department": "NOPE"}, {"category": "weather", "department": "TECH"}):
        page = await admin.submit("/admin/routing", "/admin/routing", bad)
        assert page.status_code == 422 and 'class="refusal"' in page.text, bad
    renamed = await admin.submit("/admin/departments", "/admin/departments/TECH",
                                 {"name_vi": "", "name_en": "Technical", "email": ""})  # fmt: skip
    assert renamed.status_code == 422 and 'class="refusal"' in renamed.text
    async with sessions() as session:
        minh = await session.scalar(select(Staff).where(Staff.username == "minh.tech"))
        assert minh is not None and (minh.role, minh.department_code) == ("department_staff", "TECH")
        assert (await session.get(RoutingRule, "technical")).department_code == "TECH"
        assert (await session.get(Department, "TECH")).name_vi == "Kỹ thuật"

    # a name with markup is stored as text and shown escaped
    username = f"xss.{uuid.uuid4().hex[:6]}"
    async with transaction(sessions) as session:
        await set_account(session, username, Role.CS_AGENT, "CS", PASSWORD)
    saved = await admin.submit("/admin/staff", f"/admin/staff/{username}", {
        "full_name": f"Tên {XSS}", "email": "", "role": "cs_agent", "department": "CS", "active": "on"})  # fmt: skip
    assert saved.status_code == 303
    page = await admin.get("/admin/staff?saved=1")
    assert "Tên &lt;script&gt;" in page.text and "Đã lưu." in page.text


async def test_sla_page(app: FastAPI, dev_env: WorkflowEnvironment, settings: Settings) -> None:
    for username in ("admin", "quang.manager"):
        page = await (await Browser(app).login(username)).get("/admin/sla")
        assert page.status_code == 200
        assert "P20D" in page.text and "20 ngày" in page.text and "P15D" in page.text and "P30D" in page.text
        assert 'data-calendar="calendar"' in page.text and "COMPLAINTS_SLA_RESOLUTION" in page.text
        assert "Ngày lễ" not in page.text

    working = settings.model_copy(update={"sla_calendar": CalendarKind.VN_WORKING_DAYS,
                                          "sla_first_response": timedelta(seconds=90)})  # fmt: skip
    application = with_admin_pages(working, dev_env)
    async with application.router.lifespan_context(application):
        english = await Browser(application).login("admin")
        await english.submit("/admin/sla", "/language", {"lang": "en", "next": "/admin/sla"})
        page = await english.get("/admin/sla")
        year = datetime.now(UTC).year
        assert "20 working days" in page.text and "PT1M30S" in page.text and "1 minute" in page.text
        assert f"Public holidays in {year}" in page.text and f"01/01/{year}" in page.text
        assert f'<time datetime="{year}-09-02">' in page.text  # Quốc khánh


def _mail(subject: str, to: str, message_id: str, when: datetime) -> bytes:
    message = EmailMessage()
    message["From"] = "Lửa Rồng CSKH <cskh@luarong.vn>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(when)
    message.set_content(f"Kính gửi quý khách,\n{XSS} <b>đậm</b>\n")
    message.add_alternative(f"<p>Kính gửi</p>{XSS}<img src=x onerror=alert(1)>", subtype="html")
    return message.as_bytes()


async def test_mail_viewer(app: FastAPI, settings: Settings) -> None:
    cs = await Browser(app).login("lan.cs")
    empty = await cs.get("/mails")
    assert empty.status_code == 200 and "make run" in empty.text and "Chưa có thư nào." in empty.text

    directory = settings.data_dir / "mail"
    directory.mkdir(parents=True)
    older = directory / "20260101T000000.000000Z_old@luarong.vn.eml"
    older.write_bytes(_mail("Thư cũ", "an@example.vn", "<old@luarong.vn>", datetime(2026, 1, 1, tzinfo=UTC)))
    os.utime(older, (1_700_000_000, 1_700_000_000))
    name = "20260301T101500.000000Z_KN-ABC123.reply@luarong.vn.eml"
    subject = f"Trả lời khiếu nại KN-ABC123 {XSS}"
    (directory / name).write_bytes(
        _mail(subject, "Nguyễn Văn An <an@example.vn>", "<KN-ABC123.reply@luarong.vn>", datetime.now(UTC))
    )
    (directory / ".hidden.eml.tmp").write_bytes(b"Subject: half written\n\n")
    (settings.data_dir / "outside.eml").write_bytes(_mail("Bí mật", "x@example.vn", "<secret@x>", datetime.now(UTC)))

    listing = await cs.get("/mails")
    assert listing.status_code == 200
    assert "Trả lời khiếu nại KN-ABC123 &lt;script&gt;" in listing.text  # the subject decoded, then escaped
    assert "&lt;KN-ABC123.reply@luarong.vn&gt;" in listing.text and "an@example.vn" in listing.text
    assert listing.text.index("KN-ABC123") < listing.text.index("Thư cũ")  # newest first
    assert "half written" not in listing.text and "Bí mật" not in listing.text
    link = re.search(r'href="(/mails/[^"]*KN-ABC123[^"]*)"', listing.text)
    assert link and link.group(1) == f"/mails/{quote(name)}"

    page = await cs.get(link.group(1))
    assert page.status_code == 200
    assert "Kính gửi quý khách" in page.text and "&lt;b&gt;đậm&lt;/b&gt;" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text and "<img src=x" not in page.text
    assert "<p>Kính gửi</p>" not in page.text

    for bad in ["..%2Foutside.eml", "%2E%2E%2Foutside.eml", "..%5Coutside.eml", "missing.eml", "notes.txt",
                ".hidden.eml.tmp", "sub%2F..%2F..%2Foutside.eml", "%2Fetc%2Fpasswd"]:  # fmt: skip
        refused = await cs.http.get(f"/mails/{bad}")
        assert refused.status_code == 404, bad
        assert "Bí mật" not in refused.text

    manager = await Browser(app).login("quang.manager")
    assert (await manager.get("/mails")).status_code == 200
    for username in ("minh.tech", "tuan.tech"):
        browser = await Browser(app).login(username)
        assert (await browser.get("/mails")).status_code == 403
        assert (await browser.get(f"/mails/{name}")).status_code == 403


def test_mail_path_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_text("Subject: a\n\n")
    assert mail_path(tmp_path, "a.eml") == tmp_path / "a.eml"
    for bad in ["../a.eml", "..\\a.eml", "x/../a.eml", "/etc/passwd", "a.EML.txt", ".a.eml", "a.eml\x00"]:
        with pytest.raises(ServiceError) as refused:
            mail_path(tmp_path, bad)
        assert refused.value.status == 404


def test_iso_durations() -> None:
    assert iso_duration(timedelta(days=20)) == "P20D"
    assert iso_duration(timedelta(days=1, hours=2)) == "P1DT2H"
    assert iso_duration(timedelta(seconds=60)) == "PT1M"
