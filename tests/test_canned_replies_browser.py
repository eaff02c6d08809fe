"""Canned replies (issue 13) in Chromium: a manager writes one in the administration pages; a CS
agent inserts it into the reply to the customer, the placeholders filled in for the complaint.
With script (app.js) it goes in at the cursor with no page load; with script turned off, the
"Insert" button brings the form back with it added at the end. Nothing typed is lost either way."""

import uuid

from playwright.async_api import Browser, Page, expect

from tests.test_browser import PASSWORD, act, as_user, base_url, browser, file, shot  # noqa: F401


async def without_script(browser: Browser, base_url: str, username: str) -> Page:  # noqa: F811
    context = await browser.new_context(base_url=base_url, locale="vi-VN", java_script_enabled=False)
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit].primary")
    await expect(page.locator(".whoami-name")).to_be_visible()
    return page


async def test_a_manager_writes_a_canned_reply_and_an_agent_inserts_it(browser: Browser, base_url: str) -> None:  # noqa: F811
    title = f"Đã thay thiết bị {uuid.uuid4().hex[:6]}"
    manager = await as_user(browser, base_url, "quang.manager")
    await manager.goto("/")
    await manager.get_by_role("link", name="Quản trị").click()
    await manager.get_by_role("link", name="Mẫu trả lời").first.click()
    await manager.get_by_role("link", name="Thêm mẫu trả lời").click()
    await manager.fill("#canned-title", title)
    await manager.select_option("#canned-category", "technical")
    await manager.select_option("#canned-department", "TECH")
    await manager.fill(
        "#canned-body", "Kính gửi {customer_name}, thiết bị của Quý khách (khiếu nại {case_id}) đã được thay."
    )
    await shot(manager, "canned-reply-form")
    await manager.click("form.canned-reply-form button[type=submit].primary")
    await expect(manager.locator("table.canned-replies")).to_contain_text(title)

    cs = await as_user(browser, base_url, "lan.cs")
    # a phone of its own: the other browser tests' customer keeps the history they expect
    url = await file(cs, "phone", "Phạm Thị Hoa", phone=f"09{int(uuid.uuid4().hex[:8], 16) % 10**8:08d}")
    cid = url.rsplit("/", 1)[1]
    filled = f"Kính gửi Phạm Thị Hoa, thiết bị của Quý khách (khiếu nại {cid}) đã được thay."
    await act(cs, url, "verify", {"summary": "Mất kết nối", "category": "technical"})
    tech = await as_user(browser, base_url, "minh.tech")
    await act(tech, url, "resolve", {"cause": "Modem lỗi", "resolution": "Thay modem", "within_authority": "true",
                                     "reply_draft": "Chúng tôi đã thay modem."})  # fmt: skip

    # without script: the form comes back open, with what was typed and the reply added at the end
    plain = await without_script(browser, base_url, "lan.cs")
    await plain.goto(url)
    form = plain.locator("form[data-decision=reply]")
    await plain.locator("details.decision", has=form).locator("summary").click()
    await form.locator("[name=message]").fill("Đã gọi cho khách.")
    await form.locator("#reply-message-canned").select_option(label=title)
    await form.locator("[data-canned-insert]").click()
    await expect(plain.locator("#reply-message")).to_have_value(f"Đã gọi cho khách.\n\n{filled}")

    # with script: in place at the cursor, no page load; then the reply is sent with it
    await cs.goto(url)
    form = cs.locator("form[data-decision=reply]")
    await cs.locator("details.decision", has=form).locator("summary").click()
    await form.locator("[name=method]").select_option("phone")
    message = form.locator("[name=message]")
    await expect(message).to_have_value("Chúng tôi đã thay modem.")  # the department's draft, prefilled
    await message.fill("Đã gọi cho khách.\n\nCảm ơn Quý khách.")
    await message.evaluate("m => m.setSelectionRange(m.value.indexOf('Cảm ơn'), m.value.indexOf('Cảm ơn'))")
    await cs.evaluate("window.loadedOnce = true")
    await form.locator("#reply-message-canned").select_option(label=title)
    await form.locator("[data-canned-insert]").click()
    await expect(message).to_have_value(f"Đã gọi cho khách.\n\n{filled}Cảm ơn Quý khách.")
    assert await cs.evaluate("window.loadedOnce === true"), "the insertion reloaded the page"
    await shot(cs, "canned-reply-inserted")
    await form.locator("button[type=submit]").click()
    await expect(cs.locator(".complaint-head h1 .badge").first).to_have_text("Đã trả lời")
    await expect(cs.locator("table.audit")).to_contain_text(filled)
