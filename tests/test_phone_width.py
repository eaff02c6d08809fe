"""At a phone's width (390×844) the lists, the complaint page and the menu are usable: nothing
runs off the right edge (no sideways scrolling of the page), the status and the deadline of each
listed complaint are on screen, the menu and the language switch are reachable, and the audit
trail does not stretch the complaint page into a scroll of thousands of pixels. Real browser
(Debian's chromium), real app, dev server and worker. Screenshots: test-artifacts/screenshots."""

from playwright.async_api import Browser, Page, ViewportSize

from tests.test_browser import as_user, base_url, browser, file, shot  # noqa: F401  (fixtures)

PHONE: ViewportSize = {"width": 390, "height": 844}


async def phone(browser: Browser, base_url: str, username: str) -> Page:  # noqa: F811
    page = await as_user(browser, base_url, username)
    await page.set_viewport_size(PHONE)
    return page


async def assert_fits(page: Page, name: str) -> None:
    await shot(page, f"phone-{name}")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name}: the page is {overflow}px wider than the phone"
    for selector in (".mainnav", ".langswitch"):
        box = await page.locator(selector).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + min(box["width"], 80) <= PHONE["width"], selector


async def test_lists_the_complaint_page_and_the_menu_fit_a_phone(browser: Browser, base_url: str) -> None:  # noqa: F811
    cs = await phone(browser, base_url, "lan.cs")
    url = await file(cs, "phone", "Phạm Thị Hoa", phone="0903123456")
    # a name that is one long word (pasted from somewhere) wraps instead of widening the page
    await file(cs, "phone", "Nguyễn" + "Văn" * 30, phone="0903123457")
    for _ in range(5):  # an audit trail of several entries (a sixth below)
        await cs.goto(url)
        form = cs.locator("form[data-decision=note]")
        await cs.locator("details.decision", has=form).locator("summary").click()
        await form.locator("[name=text]").fill("Khách gọi lại hỏi tiến độ xử lý, đã hẹn gọi lại trong ngày.")
        await form.locator("button[type=submit]").click()
        await cs.wait_for_load_state()
    # a customer's call CS notes (the conversation), with a pasted link of one long word: the sixth
    await cs.goto(url)
    form = cs.locator("form[data-decision=customer_message]")
    await cs.locator("details.decision", has=form).locator("summary").click()
    await form.locator("[name=text]").fill("Khách gửi https://example.vn/" + "a" * 60)
    await form.locator("button[type=submit]").click()
    await cs.wait_for_load_state()
    await cs.goto(url)
    assert await cs.locator("#conversation li[data-direction=in]").count() == 1
    await assert_fits(cs, "complaint")
    height = await cs.evaluate("document.documentElement.scrollHeight")
    # Four screens for the page as it was, and half a screen for the conversation card it gained
    # (issue 14: the customer's messages and the mails sent to them).
    conversation = await cs.locator("#conversation").bounding_box()
    assert conversation is not None and conversation["height"] < PHONE["height"] / 2, conversation
    assert height < 4.5 * PHONE["height"], f"the complaint page is {height}px tall"

    await cs.goto("/complaints")
    await assert_fits(cs, "list")
    row = cs.locator("table.table tbody tr").first
    for cell in (".badge[class*=stage-]", ".countdown"):
        box = await row.locator(cell).first.bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], cell
    await cs.goto("/")
    await assert_fits(cs, "my-work")
