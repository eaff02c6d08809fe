"""Our journey, file → verify → resolve → reply (email) → close, as data: the intake, and each
decision with the staff member who takes it (the same payloads through the client and the API)."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle

from config.settings import Settings
from domain.models import Actor, ComplaintIntake, ComplaintState, Customer
from domain.transitions import TRANSITIONS
from domain.vocabulary import Channel, Role
from intake.filing import file_complaint

CS_AGENT = Actor(user="lan.cs", role=Role.CS_AGENT, department="CS")
TECH_STAFF = Actor(user="minh.tech", role=Role.DEPARTMENT_STAFF, department="TECH")
STAFF = (CS_AGENT, TECH_STAFF)


@dataclass(frozen=True)
class Step:
    name: str
    actor: Actor
    body: dict[str, Any]  # the API body (the actor is the caller)

    def payload(self) -> Any:
        return TRANSITIONS[self.name].payload.model_validate({**self.body, "actor": self.actor.model_dump()})


STEPS = (
    Step("verify", CS_AGENT, {"summary": "Khách mất kết nối liên tục", "category": "technical"}),
    Step(
        "resolve",
        TECH_STAFF,
        {
            "cause": "Modem lỗi firmware",
            "resolution": "Cập nhật firmware từ xa",
            "within_authority": True,
            "reply_draft": "Chúng tôi đã cập nhật firmware cho modem của Quý khách.",
        },
    ),
    Step("reply", CS_AGENT, {"method": "email", "message": "Sự cố đã được khắc phục. Xin cảm ơn Quý khách."}),
    Step("close", TECH_STAFF, {"root_cause": "Firmware cũ", "lessons_learned": "Rà soát firmware định kỳ hằng quý"}),
)


def new_intake(tag: str, *, email: bool = True) -> ComplaintIntake:
    """A complaint like the ones filed by email every day; without email, no mail is sent."""
    return ComplaintIntake(
        channel=Channel.EMAIL if email else Channel.PHONE,
        customer=Customer(
            name="Nguyễn Văn An",
            email="an.nguyen@example.vn" if email else None,
            phone="0901234567",
            address="12 Lê Lợi, Quận 1, Tp.HCM",
        ),
        subject="Mất kết nối Internet",
        body="Đường truyền của tôi bị mất liên tục từ ngày 10, ảnh hưởng công việc.",
        intake_key=f"bench:{tag}:{uuid.uuid4()}",
    )


def api_intake(tag: str) -> dict[str, Any]:
    """The same complaint as a POST /api/v1/complaints body."""
    data = new_intake(tag).model_dump(mode="json", exclude_none=True)
    data.pop("intake_key", None)
    return data


async def file(client: Client, settings: Settings, tag: str, *, email: bool = True) -> WorkflowHandle[Any, Any]:
    filed = await file_complaint(client, settings, new_intake(tag, email=email))
    return client.get_workflow_handle(filed.complaint_id)


async def decide(handle: WorkflowHandle[Any, Any], step: Step) -> ComplaintState:
    state: ComplaintState = await handle.execute_update(step.name, step.payload(), result_type=ComplaintState)
    return state


async def full_journey(
    client: Client,
    settings: Settings,
    tag: str,
    between: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]] | None = None,
) -> WorkflowHandle[Any, Any]:
    """The journey; ``between`` runs after filing and after each decision (to record its shape)."""
    handle = await file(client, settings, tag)
    for step in STEPS:
        if between:
            await between(handle)
        await decide(handle, step)
    return handle
