"""Assignment to a person (issue 13) over HTTP (real app, real dev server, real worker): the
assign form's picker of the staff who may take the complaint, "Take it myself", an assignee
refused beside the field, the "Assigned to me" queue, the assignee by full name in lists and on
the complaint page, the list's assignee filter and the decision in the audit trail."""

import re

from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import Verify
from domain.vocabulary import Category
from intake.filing import file_complaint
from store.tables import Complaint
from tests.conftest import Sessions
from tests.journey import CS, decide, intake
from tests.test_admin_pages import Browser, app, until_stages  # noqa: F401

MINH = "Lê Quang Minh"  # minh.tech, seeded (store/seed.py)


async def tech_complaint(dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> str:
    filed = await file_complaint(dev_env.client, settings, intake())
    handle = dev_env.client.get_workflow_handle(filed.complaint_id)
    await decide(handle, "verify", Verify(actor=CS, summary="Mất kết nối", category=Category.TECHNICAL))
    await until_stages(sessions, {filed.complaint_id: "in_progress"})
    return filed.complaint_id


def options_of(html: str, name: str) -> list[str]:
    """The options' texts of the ``<select name=name>`` of the assign form."""
    form = re.search(r'data-decision="assign">(.*?)</form>', html, re.S)
    assert form, "no assign form"
    select = re.search(rf'<select [^>]*name="{name}"[^>]*>(.*?)</select>', form.group(1), re.S)
    assert select, f"no picker for {name}: {form.group(1)}"
    return re.findall(r"<option [^>]*>([^<]*)</option>", select.group(1))


async def assignee_of(sessions: Sessions, cid: str) -> str | None:
    async with sessions() as session:
        row = await session.get(Complaint, cid)
        assert row is not None
        return row.assignee


async def test_the_supervisor_picks_the_assignee_and_the_assignee_finds_it(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    cid = await tech_complaint(dev_env, settings, sessions)
    page_url = f"/complaints/{cid}"
    supervisor = await Browser(app).login("tuan.tech", lang="vi")
    page = await supervisor.get(page_url)
    picked = options_of(page.text, "assignee")
    # TECH's people and those who work on every department; no other department, no administrator
    assert any(o.startswith(MINH) for o in picked) and any(o.startswith("Lý Minh Quang") for o in picked), picked
    assert not any(o.startswith(("Đỗ Thu Hà", "Quản trị hệ thống")) for o in picked), picked
    assert 'name="assignee" maxlength' not in page.text, "the assignee is picked, not typed"

    for someone in ("ha.billing", "nobody.here"):  # out of scope; unknown
        refused = await supervisor.submit(page_url, f"{page_url}/actions/assign", {"assignee": someone})
        assert refused.status_code == 422, refused.text
        error = re.search(r'id="assign-assignee-error">([^<]+)<', refused.text)
        assert error, "the refusal is not shown beside the field"
    assert await assignee_of(sessions, cid) is None

    done = await supervisor.submit(page_url, f"{page_url}/actions/assign", {"assignee": "minh.tech"})
    assert done.status_code == 303, done.text
    assert await assignee_of(sessions, cid) == "minh.tech"
    page = await supervisor.get(page_url)
    assert re.search(rf'class="assignee">{MINH}<', page.text), "the assignee is shown by full name"
    audit = re.search(r'<table class="table stacked-on-phone audit">.*?</table>', page.text, re.S)
    assert audit and "Phân công" in audit.group(0) and f"Người phụ trách</em>: {MINH}" in audit.group(0)

    engineer = await Browser(app).login("minh.tech", lang="vi")
    work = await engineer.get("/")
    queue = re.search(r"<h2>Được phân công cho tôi.*?</section>", work.text, re.S)
    assert queue and cid in queue.group(0) and MINH in queue.group(0), "not in the Assigned to me queue"
    mine = await engineer.get("/complaints?assignee=me")
    assert cid in mine.text and MINH in mine.text
    others = await supervisor.get("/complaints?assignee=me")
    assert cid not in others.text
    by_name = await supervisor.get("/complaints?assignee=minh.tech")
    assert cid in by_name.text


async def test_department_staff_take_a_complaint_themselves(
    app: FastAPI,  # noqa: F811
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    cid = await tech_complaint(dev_env, settings, sessions)
    page_url = f"/complaints/{cid}"
    engineer = await Browser(app).login("minh.tech", lang="en")
    page = await engineer.get(page_url)
    assert "Take it myself" in page.text
    assert [o for o in options_of(page.text, "assignee") if not o.startswith("Nobody")] == [
        "Lê Quang Minh (Department staff)"
    ], "department staff pick only themselves"
    taken = await engineer.submit(page_url, f"{page_url}/actions/assign", {"assignee": "minh.tech"})
    assert taken.status_code == 303, taken.text
    assert await assignee_of(sessions, cid) == "minh.tech"
    page = await engineer.get(page_url)
    assert "Take it myself" not in page.text
    work = await engineer.get("/")
    queue = re.search(r"<h2>Assigned to me.*?</section>", work.text, re.S)
    assert queue and cid in queue.group(0)
