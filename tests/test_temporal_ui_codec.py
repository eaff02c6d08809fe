"""Issue 12: the Temporal UI shows a complaint's history decoded to the staff whose scope
includes it, and to no one else. A real browser (Debian's chromium via Playwright), the dev
server WITH its UI as `make run` starts it (its codec endpoint the admin's /codec), the admin
app served over HTTP and a worker, all on free ports and started once for the module.

The dev server's UI has no server-side switch to send credentials to the codec (compose's UI
has one, tests/test_compose.py): each staff member ticks it once in their browser, as the
complaint page says; these tests do it through the UI's own Codec Server dialog."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from admin.accounts import set_account
from admin.app import create_app
from config.settings import Settings
from domain import search_index
from domain.models import Verify
from domain.vocabulary import Category, Role
from intake.filing import file_complaint
from localstack.devstack import codec_endpoint
from localstack.mailcatcher import MailCatcher
from localstack.ports import free_port
from store.engine import make_engine, make_sessionmaker, transaction
from tests.conftest import CONVERTER, binary
from tests.journey import CS, decide, intake, running_worker
from tests.test_admin_pages import until_stages
from tests.test_browser import CHROMIUM, FLAGS, PASSWORD, as_user, shot

CUSTOMER = "Trần Thị Bích Hạnh"
SLOW = 30_000  # ms: the UI loads a large bundle, then the history, then asks the codec
# The UI's codec status icon in its top bar, by its label.
NO_CODEC, DECODED = "Codec Server could not connect", "Codec Server succesfully converted content"


@dataclass(frozen=True)
class Stack:
    admin_url: str
    ui_url: str
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    env: WorkflowEnvironment


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, catcher: MailCatcher, sqlite_url: str
) -> AsyncIterator[Stack]:
    admin_port, ui_port = free_port(), free_port()
    settings = Settings(
        database_url=sqlite_url,
        data_dir=tmp_path_factory.mktemp("ui-codec"),
        task_queue=f"test-{uuid.uuid4()}",
        smtp_host="127.0.0.1",
        smtp_port=catcher.port,
        admin_port=admin_port,
        temporal_ui_url=f"http://127.0.0.1:{ui_port}",  # and so the codec's CORS origin
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=CONVERTER,
        search_attributes=list(search_index.ALL),
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-codec-endpoint", codec_endpoint(settings)],
    )
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await set_account(session, "thu.billing", Role.SUPERVISOR, "BILLING", PASSWORD)
        await set_account(session, "tuan.tech", Role.SUPERVISOR, "TECH", PASSWORD)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, temporal=env.client), host=settings.admin_host,
                                           port=admin_port, log_level="warning"))  # fmt: skip
    try:
        async with running_worker(env.client, settings, sessions):
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            yield Stack(f"http://127.0.0.1:{admin_port}", settings.temporal_ui_url, settings, sessions, env)
            server.should_exit = True
            await task
    finally:
        await engine.dispose()
        await env.shutdown()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def billing_complaint(stack: Stack) -> str:
    """A complaint filed and routed to BILLING; its customer's name is only in encrypted payloads."""
    filed = await file_complaint(stack.env.client, stack.settings, intake(name=CUSTOMER))
    handle = stack.env.client.get_workflow_handle(filed.complaint_id)
    await decide(handle, "verify", Verify(actor=CS, summary="Hóa đơn tính sai cước", category=Category.BILLING))
    await until_stages(stack.sessions, {filed.complaint_id: "in_progress"})
    return filed.complaint_id


async def tick_codec_credentials(page: Page, endpoint: str) -> None:
    """What the complaint page asks a staff member to do once in their browser (the UI keeps it in
    localStorage: overrideRemoteCodecConfiguration, endpoint, includeCredentials)."""
    await page.locator("[data-testid^=data-encoder-status]").click()
    await page.get_by_test_id("use-local-endpoint-input").check()
    await page.locator("#data-encoder-endpoint-input").fill(endpoint)
    await page.get_by_test_id("data-encoder-include-credentials").check()
    await page.get_by_test_id("confirm-modal-button").filter(has_text="Apply").click()
    await page.reload()


async def test_staff_whose_scope_includes_the_complaint_see_it_decoded(
    chromium: Browser, stack: Stack, billing_complaint: str
) -> None:
    page = await as_user(chromium, stack.admin_url, "thu.billing")
    await page.goto(f"{stack.admin_url}/complaints/{billing_complaint}")
    endpoint = f"{stack.admin_url}/codec"
    await expect(page.locator("#temporal-ui-codec")).to_contain_text(endpoint)
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.url.startswith(endpoint) else None)
    await page.get_by_role("link", name="Mở trong Temporal UI").click()
    # As the dev server configures it, the UI calls the codec without credentials: refused.
    await expect(page.get_by_role("button", name=NO_CODEC)).to_be_visible(timeout=SLOW)
    await expect(page.get_by_text(CUSTOMER)).to_have_count(0)
    assert answers and set(answers) == {401}, answers

    answers.clear()
    await tick_codec_credentials(page, endpoint)
    await expect(page.get_by_text(CUSTOMER).first).to_be_visible(timeout=SLOW)
    assert answers and set(answers) == {200}, answers
    await expect(page.get_by_text("Mất kết nối Internet").first).to_be_visible()  # the subject, decoded
    await expect(page.get_by_role("button", name=DECODED)).to_be_visible()
    await expect(page.get_by_role("button", name=NO_CODEC)).to_have_count(0)
    await shot(page, "temporal-ui-decoded")


async def test_staff_outside_its_scope_do_not_see_it_decoded(
    chromium: Browser, stack: Stack, billing_complaint: str
) -> None:
    page = await as_user(chromium, stack.admin_url, "tuan.tech")  # a TECH supervisor; the complaint is BILLING's
    # The same browser setting as above, stored directly (one UI load fewer).
    settings = {"overrideRemoteCodecConfiguration": True, "endpoint": f"{stack.admin_url}/codec",
                "includeCredentials": True}  # fmt: skip
    store = f"for (const [k, v] of Object.entries({json.dumps(settings)})) localStorage.setItem(k, JSON.stringify(v));"
    await page.context.add_init_script(f"if (location.origin === {json.dumps(stack.ui_url)}) {{ {store} }}")
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.url.startswith(f"{stack.admin_url}/codec") else None)
    await page.goto(f"{stack.ui_url}/namespaces/{stack.settings.temporal_namespace}/workflows/{billing_complaint}")
    await expect(page.get_by_role("button", name=NO_CODEC)).to_be_visible(timeout=SLOW)
    assert answers and set(answers) == {403}, answers  # logged in and sent along, yet outside the scope
    await expect(page.get_by_text(CUSTOMER)).to_have_count(0)
    await expect(page.get_by_text("Mất kết nối Internet")).to_have_count(0)
    await shot(page, "temporal-ui-out-of-scope")


async def test_the_codec_answers_the_temporal_ui_origin_only(chromium: Browser, stack: Stack) -> None:
    page = await as_user(chromium, stack.admin_url, "thu.billing")  # page.request carries its session cookie
    decode = f"{stack.admin_url}/codec/decode"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"}
    asked = await page.request.fetch(decode, method="OPTIONS", headers={"Origin": stack.ui_url, **preflight})
    assert asked.status == 204
    assert asked.headers["access-control-allow-origin"] == stack.ui_url
    assert asked.headers["access-control-allow-credentials"] == "true"
    assert {"content-type", "x-namespace"} <= set(asked.headers["access-control-allow-headers"].lower().split(", "))
    answered = await page.request.post(decode, data={"payloads": []}, headers={"Origin": stack.ui_url})
    assert answered.status == 200 and answered.headers["access-control-allow-origin"] == stack.ui_url

    # The same UI under another name, and any other site: no CORS grant, and no decode.
    for origin in (stack.ui_url.replace("127.0.0.1", "localhost"), "https://evil.example"):
        asked = await page.request.fetch(decode, method="OPTIONS", headers={"Origin": origin, **preflight})
        assert "access-control-allow-origin" not in asked.headers
        refused = await page.request.post(decode, data={"payloads": []}, headers={"Origin": origin})
        assert refused.status == 403 and "access-control-allow-origin" not in refused.headers
