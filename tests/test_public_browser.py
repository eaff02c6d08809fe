"""The customer's side in a real browser (Debian's chromium, Playwright) against the app served
over HTTP, the dev server and a worker: the public form files a complaint and lands on its
status page (with a file, which staff download); staff carry it to closed; the customer rates
it there, and staff see the rating."""

import re
from typing import Any

from playwright.async_api import Browser, FilePayload, expect
from temporalio.testing import WorkflowEnvironment

from domain.models import Close, Reply, Resolve, Verify
from domain.vocabulary import Category, ReplyMethod
from tests.journey import CS, TECH, decide
from tests.test_attachments import PDF_BYTES
from tests.test_browser import as_user, base_url, browser, shot  # noqa: F401  (the fixtures)

STATUS_PATH = re.compile(r"/public/complaints/(KN-[A-Z0-9]+)/[A-Za-z0-9_-]{20,}")


async def test_form_status_page_and_rating(
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

    await customer.click("a[hreflang=en]")  # the toggle
    await expect(customer.locator("[data-customer-stage]")).to_have_text("Closed")

    staff = await as_user(browser, base_url, "lan.cs")
    await staff.goto(f"/complaints/{complaint_id}")
    await expect(staff.locator("[data-satisfaction]")).to_have_attribute("data-satisfaction", "4")
    await expect(staff.locator("#customer-side")).to_contain_text("Giải quyết nhanh, cảm ơn.")
    # The form's file, in the conversation, downloaded as an attachment.
    link = staff.locator("#conversation .attachment a[download]")
    await expect(link).to_have_text("hoa-don.pdf")
    got = await staff.request.get(await link.get_attribute("href") or "")
    assert got.ok and await got.body() == PDF_BYTES
    assert got.headers["content-disposition"].startswith("attachment")
