"""The customer's side in a real browser (Debian's chromium, Playwright) against the app served
over HTTP, the dev server and a worker, as issue 14 accepts it: the public form files a complaint
(with a file, which staff download) and lands on its status page, which never shows internal
notes; the customer adds a message there with a photo, which staff see (and the photo beside it)
on the complaint page; staff carry it
to closed; the customer rates it and asks to reopen, the request is in CS's queue, and CS
reopens it in the staff UI."""

import re
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, FilePayload, Page, expect
from temporalio.testing import WorkflowEnvironment

from domain.models import Close, Note, Reply, Resolve, Verify
from domain.vocabulary import Category, ReplyMethod
from tests.journey import CS, TECH, decide
from tests.test_attachments import PDF_BYTES, PNG_BYTES
from tests.test_browser import act, as_user, base_url, browser, shot  # noqa: F401  (the fixtures)

STATUS_PATH = re.compile(r"/public/complaints/(KN-[A-Z0-9]+)/[A-Za-z0-9_-]{20,}")
AXE = Axe()
RUN_AXE = "() => axe.run(document, {resultTypes: ['violations'], iframes: false}).then(r => r.violations)"


async def no_violations(page: Page) -> None:
    """axe-core finds nothing serious on the page as shown (its forms included)."""
    await page.evaluate(AXE.axe_script)
    found = await page.evaluate(RUN_AXE)
    serious = [(v["id"], v["impact"]) for v in found if v["impact"] in ("serious", "critical")]
    assert not serious, serious


async def test_form_status_page_message_rating_and_reopen(
    browser: Browser,  # noqa: F811
    base_url: str,  # noqa: F811
    dev_env: WorkflowEnvironment,
) -> None:
    customer = await (await browser.new_context(base_url=base_url, locale="vi-VN")).new_page()
    await customer.goto("/public/complaints/new")
    await expect(customer.locator("h1")).to_have_text("Gửi khiếu nại")
    await expect(customer.locator("#website")).not_to_be_in_viewport()  # the honeypot: not for people
    await customer.fill("#name", "Vũ Thị Hạnh")
    await customer.fill("#phone", "0987 654 321")
    await customer.fill("#email", "hanh.vu@example.vn")
    await customer.select_option("#category", "billing")
    await customer.fill("#description", "Hóa đơn tháng 11 tính hai lần phí lắp đặt.")
    letter = FilePayload(name="hoa-don.pdf", mimeType="application/pdf", buffer=PDF_BYTES)
    await customer.set_input_files("#attachments", files=[letter])
    await customer.wait_for_timeout(3_200)  # a person takes longer than the form's minimum time
    await customer.click("button[type=submit]")
    await expect(customer.locator("[data-notice=filed]")).to_be_visible()
    found = STATUS_PATH.search(customer.url)
    assert found, customer.url
    complaint_id, status_url = found.group(1), found.group(0)
    await expect(customer.locator("[data-customer-stage]")).to_have_text("Đã tiếp nhận")
    await expect(customer.locator("h1")).to_contain_text(complaint_id)
    await shot(customer, "public-status-received")

    handle: Any = dev_env.client.get_workflow_handle(complaint_id)
    await decide(handle, "verify", Verify(actor=CS, summary="Tính trùng phí lắp đặt", category=Category.TECHNICAL))
    await decide(handle, "note", Note(actor=TECH, text="GHI-CHU-NOI-BO kiểm tra hệ thống tính cước"))

    # The customer adds information with a photo; staff see both in the conversation on the complaint page.
    added = "Tôi gửi kèm số hóa đơn: HD-2026-11-0457."
    await customer.goto(status_url)
    await expect(customer.locator("[data-message]")).to_have_count(1)  # the form's file came as a message
    await no_violations(customer)  # with the message form
    await customer.fill("#text", added)
    photo = FilePayload(name="anh-hoa-don.png", mimeType="image/png", buffer=PNG_BYTES)
    await customer.set_input_files("form[data-form=message] input[type=file]", files=[photo])
    await customer.click("form[data-form=message] button[type=submit]")
    await expect(customer.locator("[data-notice=sent]")).to_be_visible()
    for _ in range(100):  # the store's projection follows within moments
        if await customer.locator("[data-message]").count() > 1:
            break
        await customer.wait_for_timeout(200)
        await customer.reload()
    await expect(customer.locator("[data-message]").last).to_have_text(re.compile(re.escape(added)))
    await expect(customer.locator("[data-message]").last.locator("[data-attachment]")).to_have_text("anh-hoa-don.png")
    await expect(customer.locator("a[href*='/attachments/']")).to_have_count(0)  # named, never served back
    await expect(customer.locator("body")).not_to_contain_text("GHI-CHU-NOI-BO")
    await expect(customer.locator("body")).not_to_contain_text("Nguyễn Thị Lan")
    await shot(customer, "public-status-message")
    cs = await as_user(browser, base_url, "lan.cs")
    await cs.goto(f"/complaints/{complaint_id}")
    await expect(cs.locator("#conversation")).to_contain_text(added)
    beside = cs.locator("#conversation li.message", has_text=added).locator(".attachment a[download]")
    await expect(beside).to_have_text("anh-hoa-don.png")
    got = await cs.request.get(await beside.get_attribute("href") or "")
    assert got.ok and await got.body() == PNG_BYTES

    await decide(handle, "resolve", Resolve(actor=TECH, cause="Lỗi đồng bộ", resolution="Hoàn phí",
                                            within_authority=True, reply_draft="Đã hoàn phí"))  # fmt: skip
    await decide(handle, "reply", Reply(actor=CS, method=ReplyMethod.EMAIL, message="Chúng tôi đã hoàn phí lắp đặt."))
    await decide(handle, "close", Close(actor=TECH, root_cause="Lỗi đồng bộ", lessons_learned="Kiểm tra hóa đơn"))

    for _ in range(100):  # the store's projection follows within moments
        await customer.goto(status_url)
        if await customer.locator("[data-customer-stage=closed]").count():
            break
        await customer.wait_for_timeout(200)
    await expect(customer.locator("[data-customer-stage]")).to_have_text("Đã kết thúc")
    await expect(customer.locator("[data-reply]")).to_contain_text("Chúng tôi đã hoàn phí lắp đặt.")
    await customer.check("input[name=score][value='4']")
    await customer.fill("#comment", "Giải quyết nhanh, cảm ơn.")
    await customer.click("#rate button[type=submit]")
    await expect(customer.locator("[data-notice=rated]")).to_have_text("Xin cảm ơn Quý khách đã đánh giá.")
    await expect(customer.locator("[data-rated]")).to_have_attribute("data-rated", "4")
    await shot(customer, "public-status-rated")

    # ... and asks to reopen, with a reason: CS sees it in their queue and reopens it.
    await no_violations(customer)  # with the reopen form
    reason = "Hóa đơn tháng 12 vẫn tính phí lắp đặt."
    await customer.fill("#reason", reason)
    await customer.click("form[data-form=reopen] button[type=submit]")
    await expect(customer.locator("[data-notice=reopen_asked]")).to_be_visible()
    await expect(customer.locator("form[data-form=reopen]")).to_have_count(0)
    await shot(customer, "public-status-reopen-asked")

    await customer.click("a[hreflang=en]")  # the toggle
    await expect(customer.locator("[data-customer-stage]")).to_have_text("Closed")

    await cs.goto(f"/complaints/{complaint_id}")
    await expect(cs.locator("[data-satisfaction]")).to_have_attribute("data-satisfaction", "4")
    await expect(cs.locator("#customer-side")).to_contain_text("Giải quyết nhanh, cảm ơn.")
    # The form's file, in the conversation, downloaded as an attachment.
    link = cs.locator("#conversation .attachment a[download]", has_text="hoa-don.pdf")
    await expect(link).to_have_text("hoa-don.pdf")
    got = await cs.request.get(await link.get_attribute("href") or "")
    assert got.ok and await got.body() == PDF_BYTES
    assert got.headers["content-disposition"].startswith("attachment")
    queue = cs.locator("section.queue", has=cs.locator("h2", has_text="Nhắn tin sau khi kết thúc"))
    for _ in range(100):  # the worker projects the request after the update answered
        await cs.goto("/")
        if await queue.locator("tr", has_text=complaint_id).count():
            break
        await cs.wait_for_timeout(200)
    await expect(queue.locator("tr", has_text=complaint_id).locator("[data-flag=reopen-requested]")).to_be_visible()
    await cs.goto(f"/complaints/{complaint_id}")
    await expect(cs.locator("[data-flag=wrote-after-closing]")).to_contain_text("Khách hàng yêu cầu mở lại khiếu nại.")
    await expect(cs.locator("#conversation")).to_contain_text(reason)
    await act(cs, f"{base_url}/complaints/{complaint_id}", "reopen", {"reason": "Khách yêu cầu qua trang tra cứu"})

    for _ in range(100):
        await customer.goto(status_url)
        if await customer.locator("[data-customer-stage=in_progress]").count():
            break
        await customer.wait_for_timeout(200)
    await expect(customer.locator("[data-customer-stage]")).to_have_text("In progress")
    await expect(customer.locator("form[data-form=message]")).to_be_visible()
