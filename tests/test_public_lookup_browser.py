"""The link lookup in a real browser (Debian's chromium, Playwright) against the app served over
HTTP, the dev server, a worker and the mail catcher: a customer whose status link is wrong (lost,
mistyped) follows "lost your link?" from the 404, asks for the link with the case number and their
address, gets the same answer page as anyone, finds the link in their mail and opens their status
page; the lookup page and its answer pass axe-core."""

import re

from playwright.async_api import Browser, expect

from localstack.mailcatcher import MailCatcher
from tests.test_browser import base_url, browser, shot  # noqa: F401  (the fixtures)
from tests.test_public_browser import STATUS_PATH, no_violations
from tests.test_public_lookup import mails_to, text_of

EMAIL = "lookup.browser@example.vn"


async def test_a_lost_link_is_mailed_again(browser: Browser, base_url: str, catcher: MailCatcher) -> None:  # noqa: F811
    customer = await (await browser.new_context(base_url=base_url, locale="vi-VN")).new_page()
    await customer.goto("/public/complaints/new")
    await customer.fill("#name", "Lý Thị Mai")
    await customer.fill("#email", EMAIL)
    await customer.select_option("#category", "technical")
    await customer.fill("#description", "Truyền hình mất tín hiệu từ sáng nay.")
    await customer.wait_for_timeout(3_200)  # a person takes longer than the form's minimum time
    await customer.click("button[type=submit]")
    await expect(customer.locator("[data-notice=filed]")).to_be_visible()
    found = STATUS_PATH.search(customer.url)
    assert found, customer.url
    complaint_id = found.group(1)

    # The link as mistyped from a mail: the 404 says where to get it again.
    await customer.goto(f"/public/complaints/{complaint_id}/mistyped-token-0123456789")
    await customer.click("[data-lost-link] a")
    await expect(customer.locator("h1")).to_have_text("Nhận lại đường dẫn đến trang tra cứu khiếu nại")
    await no_violations(customer)
    await customer.fill("#complaint_id", complaint_id)
    await customer.fill("#email", EMAIL.upper())
    await customer.wait_for_timeout(3_200)
    await customer.click("form button[type=submit]")
    await expect(customer.locator("[data-notice=link_sent]")).to_be_visible()
    await expect(customer.locator("body")).not_to_contain_text(complaint_id)  # nothing of what was typed
    await no_violations(customer)
    await shot(customer, "public-lookup-sent")

    for _ in range(150):  # the worker queues and delivers it after the page answered
        if mails_to(catcher, EMAIL):
            break
        await customer.wait_for_timeout(200)
    sent = mails_to(catcher, EMAIL)
    assert len(sent) == 1
    link = re.search(r"https?://\S+/public/complaints/\S+", text_of(sent[0]))
    assert link, text_of(sent[0])
    path = STATUS_PATH.search(link.group(0))
    assert path and path.group(1) == complaint_id
    await customer.goto(path.group(0))
    await expect(customer.locator("h1")).to_contain_text(complaint_id)
    await expect(customer.locator("[data-customer-stage]")).to_be_visible()
