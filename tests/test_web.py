"""The staff pages over HTTP (real app, real dev server, real worker): login with CSRF,
the queues, filing, deciding through forms with inline refusals, escaping, access."""

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.app import create_app
from config.settings import Settings
from domain.sla import VN_TZ
from domain.vocabulary import Role
from store.engine import transaction
from tests.conftest import Sessions
from tests.journey import running_worker

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "mật-khẩu-demo-1"
ACCOUNTS = {"lan.cs": (Role.CS_AGENT, "CS"), "minh.tech": (Role.DEPARTMENT_STAFF, "TECH"),
            "ha.billing": (Role.DEPARTMENT_STAFF, "BILLING")}  # fmt: skip
XSS_NAME = '"><img src=x onerror=alert(1)>'
XSS_BODY = "<script>alert('kn')</script> mạng chậm"


def cid_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


class Browser:
    def __init__(self, app: FastAPI) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test")

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.http.get("/login")
        return await self.http.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": csrf(page.text)})  # fmt: skip

    async def submit(self, page_url: str, action: str, data: dict[str, str]) -> httpx.Response:
        page = await self.http.get(page_url)
        return await self.http.post(action, data=data | {"csrf_token": csrf(page.text)})


@pytest.fixture
async def app(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[FastAPI]:
    async with transaction(sessions) as session:
        for username, (role, department) in ACCOUNTS.items():
            await set_account(session, username, role, department, PASSWORD)
    application = create_app(settings, temporal=dev_env.client)
    async with running_worker(dev_env.client, settings, sessions), application.router.lifespan_context(application):
        yield application


async def test_login_csrf_and_throttle(app: FastAPI) -> None:
    browser = Browser(app)
    assert (await browser.http.get("/", follow_redirects=False)).headers["location"] == "/login"
    no_token = await browser.http.post("/login", data={"username": "lan.cs", "password": PASSWORD})
    assert no_token.status_code == 403 and "Traceback" not in no_token.text
    wrong = await browser.login("lan.cs", "sai-mat-khau")
    assert wrong.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
    ok = await browser.login("lan.cs")
    assert ok.status_code == 303
    home = await browser.http.get("/")
    assert home.status_code == 200 and "Việc của tôi" in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"

    docs = await browser.http.get("/docs")
    assert docs.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in docs.text and "<script>" not in docs.text
    assert (await browser.http.get("/docs-static/swagger-ui-bundle.js")).status_code == 200
    assert "/api/v1/complaints" in (await browser.http.get("/openapi.json")).json()["paths"]

    attacker = Browser(app)
    for _ in range(5):
        await attacker.login("minh.tech", "doan-mo")
    blocked = await attacker.login("minh.tech")  # even the right password, while throttled
    assert blocked.status_code == 429


async def test_file_decide_refuse_and_escape(app: FastAPI) -> None:
    cs = Browser(app)
    await cs.login("lan.cs")
    filed = await cs.submit("/complaints/new", "/complaints/new", {
        "channel": "phone", "name": XSS_NAME, "phone": "0901234567", "subject": "Mạng chậm", "body": XSS_BODY,
        "form_key": "k-1"})  # fmt: skip
    assert filed.status_code == 303
    url = filed.headers["location"].split("?")[0]
    page = await cs.http.get(url)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text
    assert 'data-decision="verify"' in page.text and 'data-decision="resolve"' not in page.text

    again = await cs.submit("/complaints/new", "/complaints/new", {
        "channel": "phone", "name": XSS_NAME, "phone": "0901234567", "subject": "Mạng chậm", "body": XSS_BODY,
        "form_key": "k-1"})  # fmt: skip
    assert again.headers["location"].split("?")[0] == url  # the same form twice files once

    cid = url.rsplit("/", 1)[1]
    refused = await cs.submit(
        url,
        f"/complaints/{cid}/actions/resolve",
        {"cause": "x", "resolution": "y", "within_authority": "true", "reply_draft": "z"},
    )
    assert refused.status_code == 403 and 'class="refusal"' in refused.text
    empty = await cs.submit(url, f"/complaints/{cid}/actions/verify", {"summary": "", "category": "technical"})
    assert empty.status_code == 422 and 'class="refusal"' in empty.text
    done = await cs.submit(url, f"/complaints/{cid}/actions/verify", {"summary": "Mạng chậm", "category": "technical"})
    assert done.status_code == 303
    page = await cs.http.get(url)
    assert "Đang xử lý" in page.text and "Nguyễn Thị Lan (" in page.text  # the audit trail names her
    without_csrf = await cs.http.post(f"/complaints/{cid}/actions/note", data={"text": "x"})
    assert without_csrf.status_code == 403

    tech, billing = Browser(app), Browser(app)
    await tech.login("minh.tech")
    await billing.login("ha.billing")
    assert (await billing.http.get(url)).status_code == 403
    tech_page = await tech.http.get(url)
    assert 'data-decision="resolve"' in tech_page.text and "<script>alert" not in tech_page.text
    work = await tech.http.get("/")
    assert cid in work.text
    english = await tech.submit("/", "/language", {"lang": "en", "next": url})
    assert english.status_code == 303
    assert "In progress" in (await tech.http.get(url)).text
    # remembered for the user, not just the browser
    fresh = Browser(app)
    await fresh.login("minh.tech")
    assert "My work" in (await fresh.http.get("/")).text


async def test_a_reply_by_email_without_an_address_is_refused_in_the_form(app: FastAPI) -> None:
    cs, tech = Browser(app), Browser(app)
    await cs.login("lan.cs")
    await tech.login("minh.tech")
    filed = await cs.submit("/complaints/new", "/complaints/new", {
        "channel": "phone", "name": "Lê Văn Cường", "phone": "0912345678", "subject": "Mạng chậm",
        "body": "Mạng chậm buổi tối", "form_key": "no-email-1"})  # fmt: skip
    url = filed.headers["location"].split("?")[0]
    cid = cid_of(url)
    verified = await cs.submit(url, f"/complaints/{cid}/actions/verify", {"summary": "Chậm", "category": "technical"})
    assert verified.status_code == 303
    resolve = {"cause": "Nghẽn", "resolution": "Nâng băng thông", "within_authority": "true", "reply_draft": "Đã nâng"}
    resolved = await tech.submit(url, f"/complaints/{cid}/actions/resolve", resolve)
    assert resolved.status_code == 303

    reply = {"method": "email", "message": "Đã khắc phục"}
    refused = await cs.submit(url, f"/complaints/{cid}/actions/reply", reply)
    assert refused.status_code == 422 and 'class="refusal"' in refused.text
    assert "khách hàng không có địa chỉ e-mail: hãy chọn cách trả lời khác" in refused.text
    await cs.submit("/", "/language", {"lang": "en", "next": url})
    refused = await cs.submit(url, f"/complaints/{cid}/actions/reply", reply)
    assert refused.status_code == 422
    assert "the customer has no e-mail address: choose another reply method" in refused.text
    by_phone = await cs.submit(url, f"/complaints/{cid}/actions/reply", reply | {"method": "phone"})
    assert by_phone.status_code == 303


async def test_lists_escape_customer_text_and_letters_are_served(
    app: FastAPI, sessions: Sessions, settings: Settings
) -> None:
    cs = Browser(app)
    await cs.login("lan.cs")
    filed = await cs.submit("/complaints/new", "/complaints/new", {
        "channel": "post", "name": XSS_NAME, "address": "1 Lê Lợi", "subject": "<script>alert(2)</script>",
        "body": XSS_BODY, "form_key": "k-letter"})  # fmt: skip
    url = filed.headers["location"].split("?")[0]
    today = datetime.now(UTC).astimezone(VN_TZ).date().isoformat()
    for _ in range(50):  # the list reads the store, which the receive step fills a moment later
        if f'href="{url}"' in (await cs.http.get(f"/complaints?q={cid_of(url)}&from={today}&to={today}")).text:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the complaint filed today is not listed for today")
    assert f'href="{url}"' not in (await cs.http.get(f"/complaints?q={cid_of(url)}&from=2001-01-01&to=2001-01-02")).text
    for page in ("/", "/complaints", f"/complaints?q={quote('onerror')}", url):
        html = (await cs.http.get(page)).text
        assert "<script>alert" not in html and "<img src=x" not in html, page
    cid = url.rsplit("/", 1)[1]
    assert (await cs.http.get(f"{url}/letter")).status_code == 404  # not signed yet

    async with transaction(sessions) as session:
        await set_account(session, "tuan.tech", Role.SUPERVISOR, "TECH", PASSWORD)
    await cs.submit(url, f"/complaints/{cid}/actions/verify", {"summary": "Thư khiếu nại", "category": "technical"})
    tech, supervisor = Browser(app), Browser(app)
    await tech.login("minh.tech")
    await supervisor.login("tuan.tech")
    await tech.submit(url, f"/complaints/{cid}/actions/resolve", {
        "cause": "Cấu hình sai", "resolution": "Cấu hình lại", "within_authority": "true",
        "reply_draft": "Kính gửi Quý khách <b>ABC</b>"})  # fmt: skip
    signed = await supervisor.submit(url, f"/complaints/{cid}/actions/sign_reply", {"approved": "true"})
    assert signed.status_code == 303
    letter = await cs.http.get(f"{url}/letter")
    assert letter.status_code == 200 and cid in letter.text and "&lt;b&gt;ABC" in letter.text
    assert "script-src" not in letter.headers["content-security-policy"]  # default-src 'none': no script at all
    assert "<script" not in letter.text


def test_accounts_cli(settings: Settings) -> None:
    env = os.environ | {"COMPLAINTS_DATABASE_URL": settings.effective_database_url,
                        "COMPLAINTS_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    run = partial(subprocess.run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    added = run([sys.executable, "-m", "admin", "users", "add", "an.cs", "--role", "cs_agent", "--department", "cs"],
                input="mat-khau-rat-dai\n")  # fmt: skip
    assert added.returncode == 0 and "an.cs: cs_agent CS" in added.stdout, added.stderr
    short = run([sys.executable, "-m", "admin", "users", "add", "x.cs", "--role", "cs_agent", "--department", "CS"],
                input="ngan\n")  # fmt: skip
    assert short.returncode == 2 and "8 characters" in short.stderr and "Traceback" not in short.stderr
    no_dept = run([sys.executable, "-m", "admin", "users", "add", "y", "--role", "department_staff"], input="x" * 9)
    assert no_dept.returncode == 2 and "--department" in no_dept.stderr
    token = run([sys.executable, "-m", "admin", "token", "an.cs"])
    assert token.returncode == 0 and token.stdout.startswith("kn_")
    unknown = run([sys.executable, "-m", "admin", "token", "nobody"])
    assert unknown.returncode == 2 and "nobody" in unknown.stderr
