"""The staff UI in a real browser (Debian's chromium driven by Playwright) against the real
app served over HTTP, the dev server and a worker: each role carries complaints from the
new-complaint form to closed, through a signature and a reopen; languages; overdue flags.
Screenshots of each main page go to test-artifacts/screenshots on every run."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.app import create_app
from config.settings import Settings
from domain.vocabulary import Role
from localstack.ports import free_port
from store.engine import transaction
from tests.conftest import Sessions
from tests.journey import running_worker

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PASSWORD = "trình-duyệt-2026"
ACCOUNTS = {"lan.cs": (Role.CS_AGENT, "CS"), "minh.tech": (Role.DEPARTMENT_STAFF, "TECH"),
            "tuan.tech": (Role.SUPERVISOR, "TECH"), "quang.manager": (Role.MANAGER, None)}  # fmt: skip
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture
async def base_url(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[str]:
    # A bound shorter than the journey, so that its first complaint is overdue by the time the
    # test looks (a timer never changes the stage, so the journey itself is unaffected).
    settings = settings.model_copy(update={"sla_resolution": timedelta(seconds=8), "sla_warning": timedelta(seconds=5)})
    async with transaction(sessions) as session:
        for username, (role, department) in ACCOUNTS.items():
            await set_account(session, username, role, department, PASSWORD)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, temporal=dev_env.client), host="127.0.0.1",
                                           port=port, log_level="warning"))  # fmt: skip
    async with running_worker(dev_env.client, settings, sessions):
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        await task


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


async def as_user(browser: Browser, base_url: str, username: str) -> Page:
    page = await (await browser.new_context(base_url=base_url, locale="vi-VN")).new_page()
    # Irreversible decisions ask "this cannot be undone"; the people of these journeys confirm.
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit].primary")
    await expect(page.locator(".whoami-name")).to_be_visible()
    return page


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def act(page: Page, url: str, decision: str, fields: dict[str, str]) -> None:
    await page.goto(url)
    form = page.locator(f"form[data-decision={decision}]")
    await page.locator("details.decision", has=form).locator("summary").click()
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    await form.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    await expect(page.locator(".refusal")).to_have_count(0)


async def file(page: Page, channel: str, name: str, **extra: str) -> str:
    await page.goto("/complaints/new")
    await page.select_option("#channel", channel)
    await page.fill("#name", name)
    for field, value in extra.items():
        await page.fill(f"#{field}", value)
    await page.fill("#body", "Mạng mất kết nối liên tục từ sáng nay.")
    await shot(page, "new-complaint")
    await page.click("form button[type=submit].primary")
    await expect(page.locator(".complaint-head h1")).to_contain_text("KN-")
    return page.url.split("?")[0]


async def stage(page: Page, url: str) -> str:
    await page.goto(url)
    return str(await page.locator(".complaint-head h1 .badge").first.inner_text())


async def test_roles_carry_complaints_through(browser: Browser, base_url: str) -> None:
    cs = await as_user(browser, base_url, "lan.cs")
    tech = await as_user(browser, base_url, "minh.tech")
    supervisor = await as_user(browser, base_url, "tuan.tech")
    manager = await as_user(browser, base_url, "quang.manager")
    await shot(cs, "my-work-cs")

    # 1. a phone complaint from the form to closed, then reopened
    url = await file(cs, "phone", "Phạm Thị Hoa", phone="0903123456")
    await act(cs, url, "verify", {"summary": "Mất kết nối", "category": "technical"})
    assert await stage(cs, url) == "Đang xử lý"
    await shot(tech, "my-work-department")
    await act(tech, url, "resolve", {"cause": "Modem lỗi", "resolution": "Thay modem", "within_authority": "true",
                                     "reply_draft": "Chúng tôi đã thay modem."})  # fmt: skip
    await act(cs, url, "reply", {"method": "phone", "message": "Đã gọi báo khách"})
    await act(tech, url, "close", {"root_cause": "Modem cũ", "lessons_learned": "Thay modem định kỳ"})
    assert await stage(cs, url) == "Đã kết thúc"
    await shot(cs, "complaint-closed")
    await act(cs, url, "reopen", {"reason": "Khách vẫn mất kết nối"})
    assert await stage(supervisor, url) == "Đã chuyển cấp trên"
    await act(supervisor, url, "decide", {"decision": "approve", "instructions": "Cử kỹ thuật đến nhà"})
    assert await stage(cs, url) == "Chờ trả lời"

    # 2. a written complaint through the supervisor's signature
    letter = await file(cs, "post", "Công ty ABC", address="5 Nguyễn Huệ, Q1")
    await act(cs, letter, "verify", {"summary": "Hóa đơn kỹ thuật", "category": "technical"})
    await act(tech, letter, "resolve", {"cause": "Sai cấu hình", "resolution": "Cấu hình lại",
                                        "within_authority": "true", "reply_draft": "Kính gửi Quý công ty"})  # fmt: skip
    assert await stage(supervisor, letter) == "Chờ ký duyệt"
    await shot(supervisor, "awaiting-signature")
    await act(supervisor, letter, "sign_reply", {"approved": "true"})
    assert await stage(supervisor, letter) == "Đã trả lời"

    # a refusal is shown inline in plain words, and the department cannot act on CS's step
    await cs.goto(url)
    assert await cs.locator("form[data-decision=resolve]").count() == 0

    # 3. the language toggle, remembered for the user
    await manager.goto("/complaints")
    await shot(manager, "list-vi")
    await manager.locator("form.langswitch button[value=en]").click()
    await expect(manager.locator("h1")).to_contain_text("Complaints")
    await shot(manager, "list-en")
    await manager.locator("form.langswitch button[value=vi]").click()
    await expect(manager.locator("h1")).to_contain_text("Khiếu nại")

    # 4. overdue complaints are flagged (the bound here is 8 seconds)
    for _ in range(60):
        await manager.goto("/complaints?overdue=true")
        if await manager.locator(".overdue-flag").count():
            break
        await asyncio.sleep(1)
    await expect(manager.locator(".overdue-flag").first).to_be_visible()
    await shot(manager, "overdue")
    await manager.goto("/")
    await shot(manager, "my-work-manager")
    await manager.goto("/dashboard")
    await expect(manager.locator("h1")).to_be_visible()
    await shot(manager, "dashboard")
    await manager.goto("/admin/staff")
    await shot(manager, "admin-staff")
    await manager.goto("/docs")  # the OpenAPI page works offline, under the CSP
    await expect(manager.locator(".swagger-ui .opblock").first).to_be_visible()
    await shot(manager, "api-docs")
