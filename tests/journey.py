"""Helpers for driving complaints in tests: actors, intake, decisions, history checks."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.complaint_steps import ComplaintActivities
from config.settings import Settings
from domain.models import Actor, ComplaintIntake, ComplaintStart, ComplaintState, Customer, Decision
from domain.sla import SlaPolicy
from domain.vocabulary import Channel, Role
from worker import build_worker
from workflows.complaint import ComplaintWorkflow

CS = Actor(user="lan.cs", role=Role.CS_AGENT, department="CS")
CS_SUP = Actor(user="hung.cs", role=Role.SUPERVISOR, department="CS")
TECH = Actor(user="minh.tech", role=Role.DEPARTMENT_STAFF, department="TECH")
TECH_SUP = Actor(user="tuan.tech", role=Role.SUPERVISOR, department="TECH")
BILLING = Actor(user="ha.billing", role=Role.DEPARTMENT_STAFF, department="BILLING")
BILLING_SUP = Actor(user="thu.billing", role=Role.SUPERVISOR, department="BILLING")
MANAGER = Actor(user="quang.manager", role=Role.MANAGER)
ADMIN = Actor(user="admin", role=Role.ADMIN)
# The time-skipping server has no custom search attributes; the dev server has ours.
SEARCH_ATTRIBUTES_DEFAULT = False


def intake(channel: Channel = Channel.EMAIL, **customer: Any) -> ComplaintIntake:
    person = {
        "name": "Nguyễn Văn An",
        "email": "an.nguyen@example.vn",
        "phone": "0901234567",
        "address": "12 Lê Lợi, Quận 1, Tp.HCM",
    } | customer
    return ComplaintIntake(
        channel=channel,
        customer=Customer(**person),
        subject="Mất kết nối Internet",
        body="Đường truyền của tôi bị mất liên tục từ ngày 10, ảnh hưởng công việc.",
        intake_key=f"test:{uuid.uuid4()}",
    )


async def start(
    client: Client,
    settings: Settings,
    complaint: ComplaintIntake,
    policy: SlaPolicy | None = None,
    received_at: datetime | None = None,
    search_attributes: bool | None = None,
) -> WorkflowHandle[Any, Any]:
    cid = "KN-" + uuid.uuid4().hex[:6].upper()
    real_server = SEARCH_ATTRIBUTES_DEFAULT if search_attributes is None else search_attributes
    start_input = ComplaintStart(
        complaint_id=cid,
        intake=complaint,
        received_at=received_at or datetime.now(UTC),
        policy=policy or SlaPolicy(),
        # the time-skipping server has no custom search attributes (and locks its clock after
        # the abandoned archive child); the dev server has both
        search_attributes=real_server,
        archive_history=real_server,
    )
    handle = await client.start_workflow(
        ComplaintWorkflow.run,
        start_input,
        id=cid,
        task_queue=settings.task_queue,
    )
    return handle


async def decide(handle: WorkflowHandle[Any, Any], name: str, payload: Decision) -> ComplaintState:
    result: ComplaintState = await handle.execute_update(name, payload, result_type=ComplaintState)
    return result


async def state_of(handle: WorkflowHandle[Any, Any]) -> ComplaintState:
    result: ComplaintState = await handle.query("state", result_type=ComplaintState)
    return result


async def event_count(handle: WorkflowHandle[Any, Any]) -> int:
    return len([e async for e in handle.fetch_history_events()])


async def quiesce(handle: WorkflowHandle[Any, Any], polls: int = 200) -> int:
    """Wait until the workflow's background work (mail deliveries) is done; return its event count."""
    last = -1
    for _ in range(polls):
        described = await handle.describe()
        count = await event_count(handle)
        raw = described.raw_description
        # Idle: no activity running and no workflow task pending (one may still be on its way
        # after the last activity completed, which a busy machine makes slow).
        if not raw.pending_activities and not raw.HasField("pending_workflow_task") and count == last:
            return count
        last = count
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} kept changing")


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, sessions: Any) -> AsyncIterator[Worker]:
    worker = build_worker(client, settings, ComplaintActivities(sessions, settings))
    async with worker:
        yield worker
