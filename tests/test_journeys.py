"""Issue 13's acceptance in a real browser (Debian's chromium driven by Playwright): the five
journeys of the desk, each at a desktop width (1366×768) and a phone width (390×844), by the
seeded staff of the real roles, nothing typed twice, no English on a Vietnamese screen, the page
loads of each journey counted and printed; then axe-core over every staff page at both widths.

One stack for the module (its own SQLite store and mail directory, the dev server, a worker, the
app over HTTP, one chromium), each person signed in once (the window resized per journey; signing
in is not counted). Between two people the test waits for the worker's projection (what the next
person's queue reads): a person would be looking at something else meanwhile, so that wait is no
page load. The page loads are printed (-s), recorded as the test's ``page_loads`` property and
summed up at the end of the run (tests/conftest.py)."""

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from babel.messages.pofile import read_po
from playwright.async_api import Browser, Dialog, Locator, Page, ViewportSize, async_playwright, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.app import create_app
from admin.i18n import LOCALE_DIR
from config.settings import Settings
from correspondence.rendering import VN_TZ
from domain.models import Close, ComplaintIntake, Customer, Decision, Escalate, Reply, Resolve, Verify
from domain.vocabulary import Category, Channel, ReplyMethod
from intake.filing import file_complaint, policy_from
from localstack.mailcatcher import MailCatcher
from localstack.ports import free_port
from store.engine import make_engine, make_sessionmaker, transaction
from store.migrate import upgrade
from store.seed import STAFF
from store.tables import Letter
from tests.journey import CS, TECH, decide, running_worker
from tests.test_admin_pages import until_stages
from tests.test_browser import CHROMIUM, FLAGS, PASSWORD, SHOTS, shot

WIDTHS: dict[str, ViewportSize] = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
PEOPLE = ("lan.cs", "hung.cs", "minh.tech", "tuan.tech", "quang.manager", "admin")


def _english_phrases() -> list[str]:
    """The catalogue's English phrases (two words or more, translated to something else): none
    of them is found inside a Vietnamese translation, so one on a Vietnamese screen is English."""
    with (LOCALE_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    return [m.id for m in catalog if isinstance(m.id, str) and m.string and m.string != m.id
            and len(m.id.split()) >= 2 and "%" not in m.id]  # fmt: skip


ENGLISH = _english_phrases()
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")  # a raw value (in_progress, resolved_on_spot) shown as it is


@dataclass
class Stack:
    url: str
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    temporal: Client
    browser: Browser
    desks: dict[str, Page] = field(default_factory=dict)
    # the journey whose page loads are being counted (None: signing in, setting up)
    journey: "Journey | None" = None


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    # A store and a mail directory of the module's own: the queues hold only these journeys'
    # complaints, and the mail viewer reads what the catcher wrote.
    root = tmp_path_factory.mktemp("journeys")
    database = f"sqlite+aiosqlite:///{root / 'complaints.db'}"
    await upgrade(database)
    catcher = MailCatcher(port=0, directory=root / "mail")
    catcher.start()
    settings = Settings(database_url=database, data_dir=root, task_queue=f"journeys-{uuid.uuid4()}",
                        smtp_host="127.0.0.1", smtp_port=catcher.port)  # fmt: skip
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        for person in STAFF:
            if person.username in PEOPLE:
                await set_account(session, person.username, person.role, person.department, PASSWORD)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, temporal=dev_env.client), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))  # fmt: skip
    async with running_worker(dev_env.client, settings, sessions), async_playwright() as playwright:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield Stack(f"http://127.0.0.1:{server.config.port}", settings, sessions, dev_env.client, browser)
        await browser.close()
        server.should_exit = True
        await task
    await engine.dispose()
    catcher.stop()


@dataclass
class Journey:
    """One journey at one width: the page loads it takes, what was typed, the confirmations asked."""

    name: str
    width: str
    stack: Stack
    loads: Counter[str] = field(default_factory=Counter)
    typed: list[str] = field(default_factory=list)
    confirmations: list[str] = field(default_factory=list)

    async def desk(self, username: str) -> Page:
        """``username``'s browser at this journey's width: each person signs in once for the module
        (not counted: a person signs in once a day, not once a journey)."""
        page = self.stack.desks.get(username)
        if page is None:
            counting, self.stack.journey = self.stack.journey, None
            page = await sign_in(self.stack, username)
            self.stack.desks[username] = page
            self.stack.journey = counting
        await page.set_viewport_size(WIDTHS[self.width])
        return page

    async def type(self, field: Locator, text: str) -> None:
        self.typed.append(text)
        await field.fill(text)

    def report(self, record_property: Callable[[str, object], None]) -> None:
        total = sum(self.loads.values())
        name = f"{self.name} at {self.width}"
        print(f"\npage loads: {name}: {total} ({', '.join(f'{k} {v}' for k, v in self.loads.items())})")
        record_property("page_loads", total)
        record_property("page_loads_by_person", dict(self.loads))
        retyped = [text for text, n in Counter(self.typed).items() if n > 1]
        assert not retyped, f"typed twice: {retyped}"
        assert not [c for c in self.confirmations if any(m in c for m in ENGLISH)], self.confirmations


async def sign_in(stack: Stack, username: str) -> Page:
    context = await stack.browser.new_context(base_url=stack.url, locale="vi-VN")
    page = await context.new_page()
    page.on("load", _counter(stack, username))
    page.on("dialog", _confirm(stack))
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit].primary")
    await expect(page.locator(".whoami-name")).to_be_visible()
    return page


def _counter(stack: Stack, username: str) -> Callable[[Page], None]:
    def count(_: Page) -> None:
        if stack.journey is not None:
            stack.journey.loads[username] += 1

    return count


def _confirm(stack: Stack) -> Callable[[Dialog], Awaitable[None]]:
    async def accept(dialog: Dialog) -> None:
        if stack.journey is not None:
            stack.journey.confirmations.append(dialog.message)
        await dialog.accept()

    return accept


@pytest.fixture
async def journey(stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[Journey]:
    width = request.node.callspec.params["width"]
    started = Journey(request.node.originalname.removeprefix("test_"), width, stack)
    stack.journey = started
    yield started
    stack.journey = None
    started.report(lambda name, value: request.node.user_properties.append((name, value)))


async def looks_right(page: Page) -> None:
    """The screen a person sees now is in Vietnamese (no catalogue phrase left in English) and
    fits the width (nothing to scroll sideways for)."""
    assert await page.locator("html").get_attribute("lang") == "vi"
    text = " ".join((await page.inner_text("body")).split())
    english = [m for m in ENGLISH if m in text] + CODE.findall(text)
    assert not english, f"{page.url}: English on a Vietnamese screen: {english}"
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{page.url}: {overflow}px wider than the screen"


async def go(page: Page, action: Callable[[], Any]) -> None:
    """A click that loads a page, and a look at the page it loads."""
    async with page.expect_navigation():
        await action()
    await looks_right(page)


async def open_from_queue(page: Page, complaint_id: str) -> None:
    """The person opens "My work" from the menu and the complaint from one of their queues."""
    await go(page, lambda: page.locator('.mainnav a[href="/"]').click())
    await go(page, lambda: page.locator(f'main a[href="/complaints/{complaint_id}"]').first.click())


async def take(journey: Journey, page: Page, decision: str, typed: dict[str, str], chosen: dict[str, str]) -> None:
    """Open a decision on the complaint page, type and choose its fields, submit it."""
    form = page.locator(f"form[data-decision={decision}]")
    await page.locator("details.decision", has=form).locator("summary").click()
    for name, value in chosen.items():
        await form.locator(f"[name={name}]").select_option(value)
    for name, text in typed.items():
        await journey.type(form.locator(f"[name={name}]"), text)
    await go(page, lambda: form.locator("button[type=submit]").click())
    await expect(page.locator(".refusal")).to_have_count(0)
    await expect(page.locator(".flash-success")).to_be_visible()


async def file_new(journey: Journey, page: Page, channel: str, typed: dict[str, str]) -> str:
    """From the menu, the new-complaint form: channel chosen, fields typed, filed."""
    await go(page, lambda: page.locator('.mainnav a[href="/complaints/new"]').click())
    await page.select_option("#channel", channel)
    for name, text in typed.items():
        await journey.type(page.locator(f"#{name}"), text)
    await go(page, lambda: page.click("form button[type=submit].primary"))
    await expect(page.locator(".complaint-head h1")).to_contain_text("KN-")
    return page.url.split("?")[0].rsplit("/", 1)[1]


async def open_from_list(page: Page, complaint_id: str, stage: str) -> None:
    """The person opens the list from the menu, filters it by stage and opens the complaint."""
    await go(page, lambda: page.locator('.mainnav a[href="/complaints"]').click())
    await page.locator("form.filters select[name=stage]").select_option(stage)
    await go(page, lambda: page.locator("form.filters button[type=submit]").click())
    await go(page, lambda: page.locator(f'main a[href="/complaints/{complaint_id}"]').first.click())


async def stage_is(page: Page, stage: str) -> None:
    await expect(page.locator(f".complaint-head h1 .badge.stage-{stage}")).to_be_visible()


def customer(name: str) -> dict[str, str]:
    """A customer of this run: a name and a phone number no other journey uses."""
    digits = f"{int(uuid.uuid4().hex[:8], 16) % 10**8:08d}"
    return {"name": name, "phone": f"09{digits}"}


both_widths = pytest.mark.parametrize("width", list(WIDTHS))


@both_widths
async def test_phone_complaint(journey: Journey, width: str) -> None:
    """(a) A phone call: CS files and verifies, the engineer resolves, CS replies with the
    engineer's draft as it stands (not retyped), the engineer closes."""
    sessions = journey.stack.sessions
    cs, tech = await journey.desk("lan.cs"), await journey.desk("minh.tech")
    cid = await file_new(journey, cs, "phone", customer("Phạm Thị Hoa") | {"body": f"Mạng chập chờn ({width})."})
    await take(journey, cs, "verify", {"summary": "Mạng chập chờn buổi tối"}, {"category": "technical"})
    await stage_is(cs, "in_progress")
    await until_stages(sessions, {cid: "in_progress"})

    await open_from_queue(tech, cid)
    draft = "Chúng tôi đã thay modem cho Quý khách.\nĐường truyền đã ổn định."
    await take(journey, tech, "resolve", {"cause": "Modem lỗi", "resolution": "Thay modem", "reply_draft": draft},
               {"within_authority": "true"})  # fmt: skip
    await until_stages(sessions, {cid: "ready_to_reply"})

    await open_from_queue(cs, cid)
    message = cs.locator("form[data-decision=reply] [name=message]")
    await expect(message).to_have_value(draft)  # the department's draft: CS does not retype it
    await take(journey, cs, "reply", {}, {"method": "phone"})
    await stage_is(cs, "replied")
    await until_stages(sessions, {cid: "replied"})

    await open_from_queue(tech, cid)
    await take(journey, tech, "close", {"root_cause": "Modem cũ", "lessons_learned": "Thay modem định kỳ"}, {})
    await stage_is(tech, "closed")
    assert len(journey.confirmations) == 2  # reply and close cannot be undone: each asked first


@both_widths
async def test_letter(journey: Journey, width: str) -> None:
    """(b) A letter that arrived 3 days ago: its received date typed in Vietnam time; beyond the
    engineer's authority, the supervisor approves, reads the letter before signing, signs; the
    printed letter carries the letter's date and the received date; the deadline counts from
    the received date."""
    sessions, settings = journey.stack.sessions, journey.stack.settings
    cs, tech, supervisor = [await journey.desk(u) for u in ("lan.cs", "minh.tech", "tuan.tech")]
    received = (datetime.now(VN_TZ) - timedelta(days=3)).replace(second=0, microsecond=0)
    typed = {"name": "Công ty TNHH Ánh Dương", "address": "5 Nguyễn Huệ, Quận 1",
             "received_at": received.strftime("%Y-%m-%dT%H:%M"), "body": f"Cước tháng 10 sai ({width})."}  # fmt: skip
    cid = await file_new(journey, cs, "post", typed)
    facts = cs.locator(".complaint-head .facts")
    await expect(facts).to_contain_text(received.strftime("%d/%m/%Y %H:%M"))
    deadline = policy_from(settings, received).add(received.astimezone(UTC), settings.sla_resolution)
    await expect(facts).to_contain_text(deadline.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M"))
    await take(journey, cs, "verify", {"summary": "Cước tháng 10 tính sai"}, {"category": "technical"})
    await until_stages(sessions, {cid: "in_progress"})

    await open_from_queue(tech, cid)
    draft = "Kính gửi Quý công ty,\nChúng tôi đã hoàn cước tháng 10.\nMong Quý công ty thông cảm.\nTrân trọng,"
    await take(journey, tech, "resolve", {"cause": "Sai bảng giá", "resolution": "Hoàn cước",
               "reply_draft": draft}, {"within_authority": "false"})  # fmt: skip
    await stage_is(tech, "escalated")
    await until_stages(sessions, {cid: "escalated"})

    await open_from_queue(supervisor, cid)
    await take(journey, supervisor, "decide", {"instructions": "Đồng ý hoàn cước"}, {"decision": "approve"})
    await stage_is(supervisor, "awaiting_signature")
    preview = supervisor.frame_locator("iframe.letter-frame").locator("body")
    await expect(preview).to_contain_text("Chờ ký duyệt")  # a draft, not yet signed
    await expect(preview).to_contain_text(f"ngày {received:%d/%m/%Y}")
    await expect(preview).to_contain_text("Chúng tôi đã hoàn cước tháng 10.")
    shown = await preview.inner_text()
    assert shown.count("Kính gửi") == 1 and shown.count("Trân trọng") == 1
    await take(journey, supervisor, "sign_reply", {}, {"approved": "true"})
    signed = datetime.now(VN_TZ)
    await stage_is(supervisor, "replied")
    assert len(journey.confirmations) == 1  # a signature cannot be taken back: asked first
    await _letter_stored(sessions, cid)

    link = supervisor.locator(f'a[href="/complaints/{cid}/letter"]')
    async with supervisor.context.expect_page() as opened:
        await link.click()
    letter = await opened.value
    await letter.set_viewport_size(WIDTHS[width])
    await letter.wait_for_load_state()
    journey.loads["tuan.tech"] += 1  # a new tab: its load is not the desk page's
    await looks_right(letter)
    text = " ".join((await letter.inner_text("body")).split())
    assert f"ngày {signed:%d} tháng {signed:%m} năm {signed:%Y}" in text  # the letter's date: the signature's
    assert f"khiếu nại của Quý khách ngày {received:%d/%m/%Y}" in text
    assert "Chờ ký duyệt" not in text and text.count("Kính gửi") == 1 and text.count("Trân trọng") == 1
    await shot(letter, f"journey-letter-{width}")
    await letter.emulate_media(media="print")
    await letter.pdf(path=str(SHOTS / f"letter-{width}.pdf"), format="A4")
    await letter.close()


async def _letter_stored(sessions: async_sessionmaker[AsyncSession], cid: str) -> None:
    """The worker issues the letter just after the signature (the page links it once the stage says so)."""
    for _ in range(300):
        async with sessions() as session:
            if await session.scalar(select(Letter.seq).where(Letter.complaint_id == cid).limit(1)) is not None:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no letter issued for {cid}")


@both_widths
async def test_in_person(journey: Journey, width: str) -> None:
    """(c) A customer at the counter, resolved on the spot."""
    cs = await journey.desk("lan.cs")
    cid = await file_new(journey, cs, "in_person", customer("Lê Văn Tám") | {"body": f"Hỏi lại cước ({width})."})
    await take(journey, cs, "resolve_on_spot", {"agreement": "Khách đồng ý với giải thích",
                                                "cause": "Khách chưa rõ cách tính cước"},
               {"category": "billing"})  # fmt: skip
    await stage_is(cs, "closed")
    assert len(journey.confirmations) == 1
    await until_stages(journey.stack.sessions, {cid: "closed"})


@both_widths
async def test_duplicate(journey: Journey, width: str) -> None:
    """(d) The customer calls about what they wrote in yesterday: while the phone is typed the
    earlier complaint shows as a possible duplicate; filed, it is rejected as a duplicate of
    that one, picked from the customer's complaints, and each links to the other."""
    settings, sessions = journey.stack.settings, journey.stack.sessions
    person = customer("Trần Văn Bình")
    earlier = await file_complaint(journey.stack.temporal, settings, ComplaintIntake(
        channel=Channel.EMAIL, customer=Customer(name=person["name"], email=f"binh.{uuid.uuid4().hex[:6]}@example.vn",
                                                 phone=person["phone"]),
        subject="Mất mạng", body="Mất mạng từ tối qua.", intake_key=f"test:{uuid.uuid4()}"))  # fmt: skip
    await until_stages(sessions, {earlier.complaint_id: "received"})

    cs = await journey.desk("lan.cs")
    await go(cs, lambda: cs.locator('.mainnav a[href="/complaints/new"]').click())
    await cs.select_option("#channel", "phone")
    await journey.type(cs.locator("#name"), person["name"])
    journey.typed.append(person["phone"])
    await cs.locator("#phone").press_sequentially(person["phone"], delay=10)
    await expect(cs.locator(f'#possible-duplicates a[href="/complaints/{earlier.complaint_id}"]')).to_be_visible()
    await journey.type(cs.locator("#body"), f"Gọi lại về việc mất mạng ({width}).")
    await go(cs, lambda: cs.click("form button[type=submit].primary"))
    cid = cs.url.split("?")[0].rsplit("/", 1)[1]

    picker = cs.locator("form[data-decision=reject] [name=duplicate_of]")
    assert await picker.locator("option").evaluate_all("os => os.map(o => o.value)") == ["", earlier.complaint_id]
    await take(journey, cs, "reject", {"reason": "Trùng khiếu nại trước"}, {"duplicate_of": earlier.complaint_id})
    await stage_is(cs, "closed")
    await expect(cs.locator('a[data-link="duplicate-of"]')).to_have_text(earlier.complaint_id)
    assert len(journey.confirmations) == 1
    await until_stages(sessions, {cid: "closed"})
    await go(cs, lambda: cs.locator('a[data-link="duplicate-of"]').click())
    await expect(cs.locator('a[data-link="duplicate"]')).to_have_text(cid)


@both_widths
async def test_reopen(journey: Journey, width: str) -> None:
    """(e) Closed on the spot, the customer comes back: CS reopens, the manager approves from
    the escalated list, CS replies, the CS supervisor closes again."""
    sessions = journey.stack.sessions
    cs, manager, cs_supervisor = [await journey.desk(u) for u in ("lan.cs", "quang.manager", "hung.cs")]
    cid = await file_new(journey, cs, "in_person", customer("Hoàng Thị Mai") | {"body": f"Sim mất sóng ({width})."})
    await take(
        journey, cs, "resolve_on_spot", {"agreement": "Đổi sim mới", "cause": "Sim hỏng"}, {"category": "technical"}
    )
    await take(journey, cs, "reopen", {"reason": "Sim mới vẫn mất sóng"}, {})
    await stage_is(cs, "escalated")
    await until_stages(sessions, {cid: "escalated"})

    await open_from_list(manager, cid, "escalated")
    await take(journey, manager, "decide", {"instructions": "Cử kỹ thuật kiểm tra trạm"}, {"decision": "approve"})
    await until_stages(sessions, {cid: "ready_to_reply"})

    await open_from_queue(cs, cid)
    await take(journey, cs, "reply", {"message": "Kỹ thuật đã sửa trạm, sóng đã ổn định."}, {"method": "phone"})
    await until_stages(sessions, {cid: "replied"})

    await open_from_list(cs_supervisor, cid, "replied")
    lessons = {"root_cause": "Trạm phát sóng lỗi", "lessons_learned": "Kiểm tra trạm khi khách báo mất sóng"}
    await take(journey, cs_supervisor, "close", lessons, {})
    await stage_is(cs_supervisor, "closed")
    assert len(journey.confirmations) == 3  # on the spot, the reply, the close


# --- accessibility: axe-core (bundled by axe-playwright-python) over every staff page ---------

AXE = Axe()
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Stages:
    """Complaints in the stages the complaint page shows differently, filed and decided directly
    (the journeys above take the same steps in the browser)."""

    received: str
    in_progress: str
    escalated: str
    awaiting_signature: str
    closed: str


@pytest.fixture(scope="module")
async def stages(stack: Stack) -> Stages:
    async def filed(channel: Channel, name: str) -> str:
        person = Customer(
            name=name,
            email=f"kh.{uuid.uuid4().hex[:6]}@example.vn",
            phone=customer(name)["phone"],
            address="12 Lê Lợi, Quận 1",
        )
        intake = ComplaintIntake(channel=channel, customer=person, subject="Mất mạng", body="Mất mạng từ tối qua.",
                                 intake_key=f"test:{uuid.uuid4()}")  # fmt: skip
        return (await file_complaint(stack.temporal, stack.settings, intake)).complaint_id

    async def act(cid: str, name: str, payload: Decision) -> None:
        await decide(stack.temporal.get_workflow_handle(cid), name, payload)

    ids = [await filed(Channel.EMAIL, f"Khách {n}") for n in "ABCD"] + [await filed(Channel.POST, "Công ty E")]
    received, in_progress, escalated, closed, letter = ids
    for cid in (in_progress, escalated, closed, letter):
        await act(cid, "verify", Verify(actor=CS, summary="Mất mạng", category=Category.TECHNICAL))
    await act(escalated, "escalate", Escalate(actor=TECH, reason="Cần thay thiết bị ngoài thẩm quyền"))
    await act(closed, "resolve", Resolve(actor=TECH, cause="Modem", resolution="Thay modem", within_authority=True,
                                         reply_draft="Đã thay modem."))  # fmt: skip
    await act(closed, "reply", Reply(actor=CS, method=ReplyMethod.EMAIL, message="Đã thay modem."))
    await act(closed, "close", Close(actor=TECH, root_cause="Modem cũ", lessons_learned="Thay định kỳ"))
    await act(letter, "resolve", Resolve(actor=TECH, cause="Cước", resolution="Hoàn cước", within_authority=True,
                                         reply_draft="Chúng tôi đã hoàn cước."))  # fmt: skip
    expected = {received: "received", in_progress: "in_progress", escalated: "escalated", closed: "closed",
                letter: "awaiting_signature"}  # fmt: skip
    await until_stages(stack.sessions, expected)
    return Stages(received, in_progress, escalated, letter, closed)


def _pages(s: Stages) -> list[tuple[str, str]]:
    """(person, path): every page of the staff UI, as one who may open it (and two who may not)."""
    complaint = "/complaints/{}".format
    return [
        ("lan.cs", "/"), ("minh.tech", "/"), ("tuan.tech", "/"), ("quang.manager", "/"),
        ("lan.cs", "/complaints"), ("quang.manager", "/complaints?stage=escalated&sort=priority"),
        ("lan.cs", "/complaints/new"),
        ("lan.cs", complaint(s.received)), ("minh.tech", complaint(s.in_progress)),
        ("tuan.tech", complaint(s.escalated)), ("tuan.tech", complaint(s.awaiting_signature)),
        ("lan.cs", complaint(s.closed)),
        ("quang.manager", "/dashboard"), ("quang.manager", "/mails"),
        ("admin", "/admin/staff"), ("admin", "/admin/departments"), ("admin", "/admin/routing"),
        ("admin", "/admin/sla"), ("quang.manager", "/admin/canned-replies"),
        ("quang.manager", "/admin/canned-replies/new"),
        ("lan.cs", "/password"), ("lan.cs", "/public/complaints/new"),  # the customers' form too
        ("lan.cs", "/complaints/KN-ZZZZZZ"), ("minh.tech", "/mails"), ("lan.cs", "/no-such-page"),
    ]  # fmt: skip


async def _violations(page: Page, found: dict[str, list[dict[str, Any]]], where: str) -> None:
    """axe-core on the page as loaded, at each width in turn (one load and one injection of axe
    per page: running axe is what costs)."""
    # Everything a person could open is checked: closed decision forms and menus too.
    await page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    await page.evaluate(AXE.axe_script)
    for width, size in WIDTHS.items():
        await page.set_viewport_size(size)
        found[f"{width} {where}"] = await page.evaluate(RUN_AXE)


# The letter's preview is a document of its own (correspondence/), not a staff page: not entered.
RUN_AXE = "() => axe.run(document, {resultTypes: ['violations'], iframes: false}).then(r => r.violations)"


async def test_every_page_is_accessible(stack: Stack, stages: Stages, record_property: Any) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    desks = {}
    for username, path in _pages(stages):
        if username not in desks:
            desks[username] = await Journey("accessibility", "desktop", stack).desk(username)
        page = desks[username]
        await page.goto(path)
        await _violations(page, found, f"{username} {path}")
    # the pages of someone signed out, and of forms sent back with what was wrong
    anonymous = await (await stack.browser.new_context(base_url=stack.url, locale="vi-VN")).new_page()
    await anonymous.goto("/login?next=/dashboard")
    await _violations(anonymous, found, "signed out /login")
    await anonymous.set_viewport_size(WIDTHS["desktop"])
    await anonymous.fill("#username", "lan.cs")
    await anonymous.fill("#password", "not the password at all")
    async with anonymous.expect_navigation():
        await anonymous.click("button[type=submit].primary")
    await expect(anonymous.locator("[role=alert]").first).to_be_visible()
    await _violations(anonymous, found, "signed out /login refused")
    await anonymous.context.close()
    cs = desks["lan.cs"]
    await cs.set_viewport_size(WIDTHS["desktop"])
    await cs.goto("/complaints/new")
    await cs.select_option("#channel", "phone")
    await cs.fill("#name", "Khách F")
    await cs.fill("#body", "Mất mạng.")
    # a letter entered too long after it arrived: refused beside its field
    await cs.fill("#received_at", (datetime.now(VN_TZ) - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"))
    async with cs.expect_navigation():
        await cs.click("form button[type=submit].primary")
    await expect(cs.locator(".field-error").first).to_be_visible()
    await _violations(cs, found, "lan.cs /complaints/new refused")
    tech = desks["minh.tech"]
    await tech.set_viewport_size(WIDTHS["desktop"])
    await tech.goto(f"/complaints/{stages.in_progress}")
    form = tech.locator("form[data-decision=escalate]")
    await tech.locator("details.decision", has=form).locator("summary").click()
    await form.locator("[name=reason]").fill("   ")
    async with tech.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(tech.locator(".field-error").first).to_be_visible()
    await _violations(tech, found, "minh.tech decision refused")
    manager = desks["quang.manager"]
    await manager.set_viewport_size(WIDTHS["desktop"])
    await manager.goto("/mails")
    async with manager.expect_navigation():
        await manager.locator("main a[href^='/mails/']").first.click()
    await _violations(manager, found, "quang.manager /mails/<one mail>")
    # a bulk reroute's outcomes, one done and one refused (a complaint not yet verified)
    await manager.goto("/complaints")
    for cid in (stages.escalated, stages.received):
        await manager.locator(f'input[name=complaint][value="{cid}"]').check()
    await manager.locator("form#bulk select[name=department]").select_option("BILLING")
    await manager.locator("form#bulk input[name=reason]").fill("Thuộc về cước phí")
    async with manager.expect_navigation():
        await manager.locator("form#bulk button[type=submit][value=reroute]").click()
    await expect(manager.locator(".bulk-outcomes tr.refused")).to_have_count(1)
    await _violations(manager, found, "quang.manager bulk outcomes")

    lines = [f"{where}: {v['impact']} {v['id']} ×{len(v['nodes'])} {v['nodes'][0]['target']}"
             for where, violations in found.items() for v in violations]  # fmt: skip
    print(f"\naxe: {len(found)} pages × widths, {len(lines)} violations" + "".join(f"\n  {x}" for x in lines))
    record_property("axe_pages", len(found))
    record_property("axe_violations", lines)
    blocking = [line for line in lines if line.split(": ", 1)[1].split()[0] in BLOCKING]
    assert not blocking, "\n".join(blocking)
