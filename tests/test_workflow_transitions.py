"""Every row of the transition table: accepted by the right actor from the right stage, and
refused (wrong role, wrong department, wrong stage, missing or empty field) with no history event.

These run on the real dev server: a rejected update leaves no event there (its workflow task
is speculative and dropped), which the time-skipping test server does not reproduce."""

from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import search_index as search_attributes
from domain.models import (
    Assign,
    Close,
    Decide,
    Decision,
    Escalate,
    Note,
    Reject,
    Reopen,
    Reply,
    Reroute,
    Resolve,
    ResolveOnSpot,
    SignReply,
    Verify,
)
from domain.transitions import TRANSITIONS
from domain.vocabulary import Category, Channel, ReplyMethod, Stage, SupervisorChoice
from tests.conftest import Sessions
from tests.journey import (
    ADMIN,
    BILLING,
    CS,
    CS_SUP,
    MANAGER,
    TECH,
    TECH_SUP,
    decide,
    event_count,
    quiesce,
    running_worker,
    state_of,
)
from tests.stages import CUSTOMER_MESSAGE, at_stage

# decision -> (a valid payload, the stage it is taken from, channel, the stage it leads to, a wrong
# stage; None: taken at every stage, so another stage where it is accepted too)
ROWS: dict[str, tuple[Decision, Stage, Channel, Stage, Stage | None]] = {
    "verify": (
        Verify(actor=CS, summary="Mất kết nối", category=Category.TECHNICAL),
        Stage.RECEIVED,
        Channel.EMAIL,
        Stage.IN_PROGRESS,
        Stage.IN_PROGRESS,
    ),
    "reject": (
        Reject(actor=CS_SUP, reason="Trùng với khiếu nại trước", duplicate_of="KN-22222A"),
        Stage.RECEIVED,
        Channel.EMAIL,
        Stage.CLOSED,
        Stage.IN_PROGRESS,
    ),
    "resolve_on_spot": (
        ResolveOnSpot(actor=CS, agreement="Hoàn phí tháng 10", cause="Tính cước sai"),
        Stage.RECEIVED,
        Channel.IN_PERSON,
        Stage.CLOSED,
        Stage.IN_PROGRESS,
    ),
    "reroute": (
        Reroute(actor=CS, department="BILLING", reason="Liên quan hóa đơn"),
        Stage.IN_PROGRESS,
        Channel.EMAIL,
        Stage.IN_PROGRESS,
        Stage.RECEIVED,
    ),
    "resolve": (
        Resolve(
            actor=TECH, cause="Lỗi modem", resolution="Thay modem", within_authority=True, reply_draft="Đã thay modem."
        ),
        Stage.IN_PROGRESS,
        Channel.EMAIL,
        Stage.READY_TO_REPLY,
        Stage.RECEIVED,
    ),
    "escalate": (
        Escalate(actor=TECH, reason="Vượt thẩm quyền"),
        Stage.IN_PROGRESS,
        Channel.EMAIL,
        Stage.ESCALATED,
        Stage.READY_TO_REPLY,
    ),
    "decide": (
        Decide(actor=TECH_SUP, decision=SupervisorChoice.APPROVE, instructions="Đồng ý bồi hoàn"),
        Stage.ESCALATED,
        Channel.EMAIL,
        Stage.READY_TO_REPLY,
        Stage.IN_PROGRESS,
    ),
    "sign_reply": (
        SignReply(actor=TECH_SUP, approved=True),
        Stage.AWAITING_SIGNATURE,
        Channel.POST,
        Stage.REPLIED,
        Stage.IN_PROGRESS,
    ),
    "reply": (
        Reply(actor=CS, method=ReplyMethod.PHONE, message="Đã gọi báo khách"),
        Stage.READY_TO_REPLY,
        Channel.EMAIL,
        Stage.REPLIED,
        Stage.IN_PROGRESS,
    ),
    "close": (
        Close(actor=TECH, root_cause="Firmware cũ", lessons_learned="Cập nhật định kỳ"),
        Stage.REPLIED,
        Channel.EMAIL,
        Stage.CLOSED,
        Stage.READY_TO_REPLY,
    ),
    "reopen": (
        Reopen(actor=CS, reason="Khách chưa hài lòng"),
        Stage.CLOSED,
        Channel.EMAIL,
        Stage.ESCALATED,
        Stage.REPLIED,
    ),
    "note": (
        Note(actor=BILLING.model_copy(update={"department": "CS"}), text="Khách gọi lại hỏi tiến độ"),
        Stage.IN_PROGRESS,
        Channel.EMAIL,
        Stage.IN_PROGRESS,
        Stage.CLOSED,
    ),
    "assign": (
        Assign(actor=TECH_SUP, assignee=TECH.user),
        Stage.IN_PROGRESS,
        Channel.EMAIL,
        Stage.IN_PROGRESS,
        Stage.CLOSED,
    ),
    "customer_message": (CUSTOMER_MESSAGE, Stage.CLOSED, Channel.EMAIL, Stage.CLOSED, None),
}


@pytest.fixture
def client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


def test_every_row_of_the_table_is_covered() -> None:
    assert set(ROWS) == set(TRANSITIONS)


async def refused(handle: Any, name: str, payload: Any) -> ApplicationError | None:
    """Send a decision that must be refused; return the refusal and check history did not grow."""
    before = await quiesce(handle)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(name, payload)
    assert await event_count(handle) == before, f"{name} refusal left a history event"
    cause = failed.value.cause
    return cause if isinstance(cause, ApplicationError) else None


def assert_undecodable(refusal: ApplicationError | None) -> None:
    """The SDK's answer to update arguments that do not decode into the payload model."""
    assert refusal is not None and refusal.message == "Failed decoding arguments", refusal


@pytest.mark.parametrize("name", list(ROWS))
async def test_row(client: Client, settings: Settings, sessions: Sessions, name: str) -> None:
    payload, from_stage, channel, to_stage, wrong_stage = ROWS[name]
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, from_stage, channel, search_attributes=True)

        wrong_role = payload.model_copy(update={"actor": ADMIN})
        refusal = await refused(handle, name, wrong_role)
        assert refusal is not None and refusal.type == "wrong_role"

        fields = payload.model_dump(mode="json")
        own = [f for f in type(payload).model_fields if f != "actor"]
        required = next((f for f in own if type(payload).model_fields[f].is_required()), None)
        if required is not None:
            del fields[required]
            # A payload the model refuses fails to decode: the update is rejected before the validator.
            assert_undecodable(await refused(handle, name, fields))
        else:  # assign: no field is required (no assignee unassigns), but an empty one is no name
            required = own[0]

        value = getattr(payload, required)
        empty = payload.model_dump(mode="json") | {required: "" if isinstance(value, str) else None}
        assert_undecodable(await refused(handle, name, empty))
        assert (await state_of(handle)).stage is from_stage

        state = await decide(handle, name, payload)
        assert state.stage is to_stage
        assert state.log[-1].action in (name, "route")
        assert any(entry.action == name and entry.actor == payload.actor for entry in state.log)

        if wrong_stage is None:
            other = await at_stage(client, settings, Stage.RECEIVED, channel, search_attributes=True)
            assert (await decide(other, name, payload)).stage is Stage.RECEIVED
            return
        other = await at_stage(client, settings, wrong_stage, channel, search_attributes=True)
        refusal = await refused(other, name, payload)
        assert refusal is not None and refusal.type in ("wrong_stage", "reopen_window_closed")


async def test_department_staff_of_another_department_is_refused(
    client: Client, settings: Settings, sessions: Sessions
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.IN_PROGRESS, search_attributes=True)
        refusal = await refused(handle, "resolve", ROWS["resolve"][0].model_copy(update={"actor": BILLING}))
        assert refusal is not None and refusal.type == "wrong_department"
        refusal = await refused(handle, "note", Note(actor=BILLING, text="xem thử"))
        assert refusal is not None and refusal.type == "wrong_department"
        # the manager acts on every department
        state = await decide(handle, "reroute", Reroute(actor=MANAGER, department="BILLING", reason="Hóa đơn"))
        assert state.department == "BILLING"
        # the search attributes follow, so the Temporal UI filters on them too
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(search_attributes.DEPARTMENT) == "BILLING"
        assert attributes.get(search_attributes.STATUS) == "in_progress"
        assert attributes.get(search_attributes.CATEGORY) == "technical"
        assert attributes.get(search_attributes.DEADLINE) == state.deadline


async def test_assign_who_whom_and_when(client: Client, settings: Settings, sessions: Sessions) -> None:
    """Department staff take an unassigned complaint of their department for themselves and give
    it back, no more; CS assigns only while the complaint is with CS; nobody assigns twice alike."""
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.IN_PROGRESS, search_attributes=True)
        refusal = await refused(handle, "assign", Assign(actor=TECH, assignee="someone.else"))
        assert refusal is not None and refusal.type == "wrong_role"
        refusal = await refused(handle, "assign", Assign(actor=CS, assignee=CS.user))
        assert refusal is not None and refusal.type == "wrong_stage"
        refusal = await refused(handle, "assign", Assign(actor=BILLING, assignee=BILLING.user))
        assert refusal is not None and refusal.type == "wrong_department"
        assert (await decide(handle, "assign", Assign(actor=TECH, assignee=TECH.user))).assignee == TECH.user
        refusal = await refused(handle, "assign", Assign(actor=TECH_SUP, assignee=TECH.user))
        assert refusal is not None and refusal.type == "invalid"  # already theirs
        other = TECH.model_copy(update={"user": "other.tech"})
        refusal = await refused(handle, "assign", Assign(actor=other, assignee=other.user))
        assert refusal is not None and refusal.type == "wrong_role"  # taken: their supervisor's call
        assert (await decide(handle, "assign", Assign(actor=TECH, assignee=None))).assignee is None
        # a CS supervisor assigns in any department, at any open stage
        assert (await decide(handle, "assign", Assign(actor=CS_SUP, assignee=TECH.user))).assignee == TECH.user
