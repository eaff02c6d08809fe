"""The staff pages over HTTP (real app, real dev server, real worker): login with CSRF,
the queues, filing, deciding through forms with inline refusals, escaping, access."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from admin.accounts import set_account
from admin.app import create_app
from domain.vocabulary import Role
from settings import Settings
from store.engine import transaction
from tests.journey import running_worker

PASSWORD = "mật-khẩu-demo-1"
ACCOUNTS = {"lan.cs": (Role.CS_AGENT, "CS"), "minh.tech": (Role.DEPARTMENT_STAFF, "TECH"),
            "ha.billing": (Role.DEPARTMENT_STAFF, "BILLING")}  # fmt: skip
XSS_NAME = '"><img src=x onerror=alert(1)>'
XSS_BODY = "<script>alert('kn')</script> mạng chậm"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


class Browser:
    def __init__(self, app: object) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin.test")  # type: ignore[arg-type]

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.http.get("/login")
        return await self.http.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": csrf(page.text)})  # fmt: skip

    async def submit(self, page_url: str, action: str, data: dict[str, str]) -> httpx.Response:
        page = await self.http.get(page_url)
        return await self.http.post(action, data=data | {"csrf_token": csrf(page.text)})


@pytest.fixture
async def app(dev_env, settings: Settings, sessions) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    async with transaction(sessions) as session:
        for username, (role, department) in ACCOUNTS.items():
            await set_account(session, username, role, department, PASSWORD)
    application = create_app(settings, temporal=dev_env.client)
    async with running_worker(dev_env.client, settings, sessions), application.router.lifespan_context(application):
        yield application


async def test_login_csrf_and_throttle(app: object) -> None:
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

    attacker = Browser(app)
    for _ in range(5):
        await attacker.login("minh.tech", "doan-mo")
    blocked = await attacker.login("minh.tech")  # even the right password, while throttled
    assert blocked.status_code == 429


async def test_file_decide_refuse_and_escape(app: object) -> None:
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
    assert "Đang xử lý" in page.text and "lan.cs" in page.text
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
