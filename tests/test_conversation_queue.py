"""CS's "Wrote after closing" queue on the real store: a closed complaint the customer wrote
about is in it while it may be reopened, not after the reopen window (its workflow has then
completed), not once CS has acted, and never one the customer did not write about."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from admin.services.queues import WROTE_AFTER_CLOSING, queue_order, work_queues
from domain.lifecycle import apply_decision, new_state
from domain.models import SYSTEM_ACTOR, Close, ComplaintStart, ComplaintState, CustomerMessage, Reopen
from domain.sla import SlaPolicy
from domain.vocabulary import Channel
from store.engine import transaction
from store.projection import project_complaint
from store.tables import Complaint
from tests.conftest import Sessions
from tests.journey import CS, TECH, intake

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POLICY = SlaPolicy()
CLOSED_AT = T0 + timedelta(days=5)


def closed() -> ComplaintState:
    start = ComplaintStart(complaint_id=f"KN-{uuid.uuid4().hex[:6].upper()}", intake=intake(), received_at=T0,
                           policy=POLICY)  # fmt: skip
    close = Close(actor=TECH, root_cause="Firmware cũ", lessons_learned="Cập nhật định kỳ")
    return apply_decision(new_state(start), "close", close, CLOSED_AT, POLICY)


def wrote(state: ComplaintState, at: datetime) -> ComplaintState:
    message = CustomerMessage(actor=SYSTEM_ACTOR, text="Xin mở lại", via=Channel.EMAIL, reopen_requested=True)
    return apply_decision(state, "customer_message", message, at, POLICY)


async def in_queue(sessions: Sessions, now: datetime) -> set[str]:
    where = dict(work_queues(CS, now))[WROTE_AFTER_CLOSING]
    query = select(Complaint.id).where(where).order_by(*queue_order(WROTE_AFTER_CLOSING))
    async with sessions() as session:
        return set((await session.scalars(query)).all())


async def test_the_queue_holds_what_cs_can_still_act_on(sessions: Sessions) -> None:
    silent, asked = closed(), wrote(closed(), CLOSED_AT + timedelta(days=1))
    answered = apply_decision(asked, "reopen", Reopen(actor=CS, reason="Khách yêu cầu"), CLOSED_AT, POLICY)
    async with transaction(sessions) as session:
        for state in (silent, asked):
            await project_complaint(session, state)
    assert asked.reopen_until is not None
    within = await in_queue(sessions, asked.reopen_until - timedelta(minutes=1))
    assert asked.complaint_id in within and silent.complaint_id not in within
    assert asked.complaint_id not in await in_queue(sessions, asked.reopen_until + timedelta(minutes=1))
    async with transaction(sessions) as session:
        await project_complaint(session, answered)
    assert asked.complaint_id not in await in_queue(sessions, asked.reopen_until - timedelta(minutes=1))
