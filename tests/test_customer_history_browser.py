"""Wall 3 in Chromium: while filing, the customer's earlier complaints appear as the phone is
typed (the debounced lookup of admin/static/app.js, no inline script); the second complaint is
then rejected as a duplicate of the first, picked from the customer's complaints, and each
links to the other."""

import asyncio
import uuid

from playwright.async_api import Browser, expect

from tests.test_browser import act, as_user, base_url, browser, file  # noqa: F401


async def test_possible_duplicates_while_typing_and_the_picker(browser: Browser, base_url: str) -> None:  # noqa: F811
    digits = f"9{int(uuid.uuid4().hex[:8], 16) % 10**8:08d}"
    page = await as_user(browser, base_url, "lan.cs")
    first = await file(page, "phone", "Phạm Văn Dũng", phone=f"0{digits}")
    first_id = first.rsplit("/", 1)[1]

    await page.goto("/complaints/new")
    duplicates = page.locator("#possible-duplicates")
    await expect(duplicates).to_be_hidden()
    await page.select_option("#channel", "phone")
    await page.fill("#name", "Phạm Văn Dũng")
    await page.locator("#phone").press_sequentially(f"+84 {digits[:2]} {digits[2:5]} {digits[5:]}", delay=20)
    await expect(duplicates).to_be_visible()
    await expect(duplicates.locator(f'a[href="/complaints/{first_id}"]')).to_have_text(first_id)
    await expect(duplicates).to_contain_text("Đã tiếp nhận")
    await page.fill("#body", "Lại mất kết nối, như hôm qua.")
    await page.click("form button[type=submit].primary")
    await expect(page.locator(".complaint-head h1")).to_contain_text("KN-")
    second = page.url.split("?")[0]

    await page.goto(second)
    options = page.locator("#reject-duplicate_of option")
    assert await options.evaluate_all("os => os.map(o => o.value)") == ["", first_id]
    await act(page, second, "reject", {"reason": "Trùng với khiếu nại trước", "duplicate_of": first_id})
    await page.goto(second)
    await expect(page.locator('a[data-link="duplicate-of"]')).to_have_text(first_id)
    # the original's list is read from the store, which the worker updates just after the decision
    link = page.locator('a[data-link="duplicate"]')
    for _ in range(100):
        await page.goto(first)
        if await link.count():
            break
        await asyncio.sleep(0.2)
    await expect(link).to_have_text(second.rsplit("/", 1)[1])
