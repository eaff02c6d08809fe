"""Priority is visible and orders the work: shown in the lists, the queues and the complaint page,
filterable in the list and the API, and the queues list the most pressing first, then the soonest
deadline (real app, real dev server and worker)."""

from typing import Any

from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import Verify
from domain.vocabulary import Category, Priority
from intake.filing import file_complaint
from tests.journey import CS, decide, intake
from tests.test_admin_pages import Browser, app, until_stages  # noqa: F401  (app: the fixture)


async def test_the_most_pressing_first(
    app: FastAPI,  # noqa: F811  (the fixture imported above)
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Any,
) -> None:
    filed = []
    for priority in (Priority.NORMAL, Priority.URGENT, Priority.HIGH):  # filed in this order: deadlines follow it
        complaint = await file_complaint(dev_env.client, settings, intake())
        handle = dev_env.client.get_workflow_handle(complaint.complaint_id)
        verify = Verify(actor=CS, summary="Mất mạng", category=Category.TECHNICAL, priority=priority)
        await decide(handle, "verify", verify)
        filed.append(complaint.complaint_id)
    await until_stages(sessions, dict.fromkeys(filed, "in_progress"))
    normal, urgent, high = filed

    tech = await Browser(app).login("minh.tech")
    work = (await tech.get("/")).text
    positions = [work.index(cid) for cid in (urgent, high, normal)]
    assert positions == sorted(positions), "urgent, then high, then normal"
    assert "Khẩn cấp" in work or "priority-urgent" in work
    assert ">TECH<" not in work  # the department by its name, not its code

    listed = (await tech.get("/complaints?priority=urgent")).text
    assert urgent in listed and normal not in listed and high not in listed
    page = (await tech.get(f"/complaints/{urgent}")).text
    assert "priority-urgent" in page

    api = (await tech.http.get("/api/v1/complaints?priority=high")).json()
    assert [i["id"] for i in api["items"] if i["id"] in filed] == [high]
    assert api["items"][0]["priority"] == "high"
