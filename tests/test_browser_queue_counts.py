"""In a real browser: the menu's queue counts follow new work without a reload (app.js asks
GET /api/v1/me/queues every 30 s)."""

from playwright.async_api import Browser, expect

from tests.test_browser import as_user, base_url, browser, file  # noqa: F401


async def test_a_complaint_filed_by_someone_else_appears_in_the_menu_count(
    browser: Browser,  # noqa: F811
    base_url: str,  # noqa: F811
) -> None:
    agent = await as_user(browser, base_url, "lan.cs")
    await agent.goto("/")
    badge = agent.locator('.mainnav [data-queue="to-verify"] .queue-count-value')
    before = int(await badge.inner_text())
    await agent.evaluate("() => { window.sameDocument = true; }")  # gone if the page were reloaded

    manager = await as_user(browser, base_url, "quang.manager")
    await file(manager, "phone", "Đỗ Thị Mai", phone="0912345678")

    # No reload: the agent's page picks it up at its next refresh (30 s at most, and the projection).
    await expect(badge).to_have_text(str(before + 1), timeout=40_000)
    assert await agent.evaluate("() => window.sameDocument === true")
