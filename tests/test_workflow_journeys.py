"""The journeys of the seed procedure on the time-skipping server, with the real activities,
a real SQLite store and a real SMTP server (aiosmtpd) that the tests read back."""

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import (
    Assign,
    CustomerMessage,
    Decide,
    Escalate,
    Reject,
    Reopen,
    Reply,
    Reroute,
    ResolveOnSpot,
    SignReply,
)
from domain.sla import CalendarKind, SlaPolicy, vn_holidays
from domain.vocabulary import Category, Channel, Outcome, ReplyMethod, Stage, SupervisorChoice
from intake.customer_messages import MessageOutcome, add_customer_message
from localstack.mailcatcher import MailCatcher
from store.tables import Complaint, ComplaintLog, Lesson, Letter, OutboxMail
from tests.conftest import Sessions
from tests.journey import (
    BILLING,
    BILLING_SUP,
    CS,
    CS_SUP,
    MANAGER,
    TECH,
    TECH_SUP,
    decide,
    intake,
    running_worker,
    start,
    state_of,
)
from tests.stages import CLOSE, CUSTOMER_MESSAGE, REPLY, RESOLVE, VERIFY, at_stage


def mails_for(catcher: MailCatcher, complaint_id: str) -> list[EmailMessage]:
    return [m for m in catcher.messages() if complaint_id in str(m["Message-ID"])]


async def settle(handle: WorkflowHandle[Any, Any], catcher: MailCatcher, expected: int) -> list[EmailMessage]:
    """Wait (in real time: delivery is a real SMTP round trip) until ``expected`` mails arrived."""
    for _ in range(100):
        found = mails_for(catcher, handle.id)
        if len(found) >= expected:
            return found
        await asyncio.sleep(0.1)
    return mails_for(catcher, handle.id)


def plain_text(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None, "no text/plain part"
    return str(body.get_content())


def addresses(mail: EmailMessage) -> set[str]:
    return {a.addr_spec for a in mail["To"].addresses}


async def test_email_complaint_end_to_end(
    client: Client, settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake(Channel.EMAIL))
        state = await decide(handle, "verify", VERIFY)
        assert (state.stage, state.department, state.category) == (Stage.IN_PROGRESS, "TECH", Category.TECHNICAL)
        state = await decide(handle, "resolve", RESOLVE)
        assert state.stage is Stage.READY_TO_REPLY
        state = await decide(handle, "reply", REPLY)
        assert state.stage is Stage.REPLIED
        state = await decide(handle, "close", CLOSE)
        assert (state.stage, state.outcome) == (Stage.CLOSED, Outcome.RESOLVED)
        assert state.closed_at is not None and state.reopen_until == state.closed_at + timedelta(days=30)

        mails = await settle(handle, catcher, 3)
        purposes = [str(m["Message-ID"]).split(".")[2].split("@")[0] for m in mails]
        assert sorted(purposes) == ["acknowledgement", "closing", "reply"]
        for mail in mails:
            assert handle.id in mail["Subject"]
            assert handle.id in plain_text(mail)
            assert mail["To"] == "an.nguyen@example.vn"
        closing = next(m for m in mails if ".closing@" in m["Message-ID"])
        assert "0938 361 595" in plain_text(closing)

        async with sessions() as session:
            row = await session.get(Complaint, handle.id)
            assert row is not None and row.stage == "closed" and row.department_code == "TECH"
            assert row.version == state.version
            log = (
                await session.scalars(
                    select(ComplaintLog).where(ComplaintLog.complaint_id == handle.id).order_by(ComplaintLog.seq)
                )
            ).all()
            assert [r.action for r in log] == ["receive", "verify", "route", "resolve", "reply", "close"]
            assert [r.actor_user for r in log] == ["system", "lan.cs", "lan.cs", "minh.tech", "lan.cs", "minh.tech"]
            lesson = await session.scalar(select(Lesson).where(Lesson.complaint_id == handle.id))
            assert lesson is not None and lesson.lessons_learned == CLOSE.lessons_learned
        # The catcher has them; the outbox is marked a moment after the server's answer.
        for _ in range(100):
            async with sessions() as session:
                query = select(OutboxMail.status).where(OutboxMail.complaint_id == handle.id)
                statuses = set((await session.scalars(query)).all())
            if statuses == {"sent"}:
                break
            await asyncio.sleep(0.1)
        assert statuses == {"sent"}


async def test_written_complaint_signature_refused_then_approved(
    client: Client, settings: Settings, sessions: Sessions
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake(Channel.POST, email=None))
        await decide(handle, "verify", VERIFY.model_copy(update={"category": Category.BILLING}))
        draft = RESOLVE.model_copy(update={"actor": BILLING})
        state = await decide(handle, "resolve", draft)
        assert state.stage is Stage.AWAITING_SIGNATURE
        state = await decide(
            handle, "sign_reply", SignReply(actor=BILLING_SUP, approved=False, comment="Bổ sung số tiền hoàn cụ thể")
        )
        assert state.stage is Stage.IN_PROGRESS and state.signed_by is None
        await decide(handle, "resolve", draft.model_copy(update={"reply_draft": "Hoàn 150.000 đồng vào hóa đơn."}))
        state = await decide(handle, "sign_reply", SignReply(actor=BILLING_SUP, approved=True))
        assert (state.stage, state.signed_by, state.reply_method) == (Stage.REPLIED, "thu.billing", "letter")
        async with sessions() as session:
            letter = await session.scalar(select(Letter).where(Letter.complaint_id == handle.id))
            assert letter is not None and letter.signer == "thu.billing"
            for expected in (handle.id, "Bùi Minh Thư", "Hoàn 150.000 đồng", "Lửa Rồng", "12 Lê Lợi"):
                assert expected in letter.html


async def test_in_person_resolved_on_spot_is_logged_without_written_reply(
    client: Client, settings: Settings, sessions: Sessions
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake(Channel.IN_PERSON, email=None))
        state = await decide(
            handle, "resolve_on_spot", ResolveOnSpot(actor=CS, agreement="Đổi gói cước", cause="Tư vấn nhầm gói")
        )
        assert (state.stage, state.outcome, state.reply_method) == (Stage.CLOSED, Outcome.RESOLVED_ON_SPOT, None)
        async with sessions() as session:
            actions = (
                await session.scalars(select(ComplaintLog.action).where(ComplaintLog.complaint_id == handle.id))
            ).all()
            assert list(actions) == ["receive", "resolve_on_spot"]
            assert await session.scalar(select(Letter).where(Letter.complaint_id == handle.id)) is None


@pytest.mark.parametrize("choice", ["approve", "return", "reroute"])
async def test_beyond_authority_goes_to_the_supervisor(
    client: Client, settings: Settings, sessions: Sessions, catcher: MailCatcher, choice: str
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.IN_PROGRESS)
        state = await decide(handle, "resolve", RESOLVE.model_copy(update={"within_authority": False}))
        assert (state.stage, state.escalation_level) == (Stage.ESCALATED, 1)
        decision = Decide(
            actor=TECH_SUP,
            decision=SupervisorChoice(choice),
            instructions="Xử lý theo hướng dẫn",
            department="BILLING" if choice == "reroute" else None,
        )
        state = await decide(handle, "decide", decision)
        expected = {
            "approve": (Stage.READY_TO_REPLY, "TECH"),
            "return": (Stage.IN_PROGRESS, "TECH"),
            "reroute": (Stage.IN_PROGRESS, "BILLING"),
        }[choice]
        assert (state.stage, state.department) == expected
        escalation = [m for m in await settle(handle, catcher, 2) if ".escalated@" in m["Message-ID"]]
        assert escalation and "tuan.tech@luarong.vn" in escalation[0]["To"]


async def test_escalate_then_manager_decides(client: Client, settings: Settings, sessions: Sessions) -> None:
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.IN_PROGRESS)
        await decide(handle, "escalate", Escalate(actor=TECH, reason="Cần phê duyệt bồi thường"))
        state = await decide(
            handle,
            "decide",
            Decide(actor=MANAGER, decision=SupervisorChoice.APPROVE, instructions="Bồi thường 1 tháng cước"),
        )
        assert state.stage is Stage.READY_TO_REPLY


async def test_duplicate_rejected(client: Client, settings: Settings, sessions: Sessions) -> None:
    async with running_worker(client, settings, sessions):
        first = await start(client, settings, intake())
        second = await start(client, settings, intake())
        state = await decide(second, "reject", Reject(actor=CS, reason="Trùng khiếu nại", duplicate_of=first.id))
        assert (state.stage, state.outcome, state.duplicate_of) == (Stage.CLOSED, Outcome.REJECTED, first.id)
        assert (await state_of(first)).stage is Stage.RECEIVED


async def test_reopen_inside_the_window_starts_a_fresh_bound(
    time_env: WorkflowEnvironment, client: Client, settings: Settings, sessions: Sessions
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.CLOSED)
        await time_env.sleep(timedelta(days=29))
        state = await decide(handle, "reopen", Reopen(actor=CS, reason="Vẫn mất kết nối"))
        assert (state.stage, state.reopen_count, state.overdue) == (Stage.ESCALATED, 1, False)
        assert state.escalation_level >= 1 and state.outcome is None
        assert state.deadline - state.bound_started_at == timedelta(days=20)
        assert state.bound_started_at >= state.received_at + timedelta(days=29)
        state = await decide(
            handle,
            "decide",
            Decide(actor=TECH_SUP, decision=SupervisorChoice.APPROVE, instructions="Cử kỹ thuật đến tận nơi"),
        )
        await decide(handle, "reply", REPLY)
        state = await decide(handle, "close", CLOSE)
        assert state.stage is Stage.CLOSED and state.reopen_count == 1


async def test_reopen_refused_after_the_window(
    time_env: WorkflowEnvironment, client: Client, settings: Settings, sessions: Sessions
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.CLOSED)
        await time_env.sleep(timedelta(days=31))
        final = await handle.result()
        assert final.stage is Stage.CLOSED and final.reopen_count == 0
        # the workflow has completed: the server itself refuses the update
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await decide(handle, "reopen", Reopen(actor=CS, reason="Quá hạn"))
        assert (await state_of(handle)).reopen_count == 0


async def test_day_15_warning_and_day_20_breach_escalate_repeatedly(
    time_env: WorkflowEnvironment, client: Client, settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.IN_PROGRESS)
        await time_env.sleep(timedelta(days=14, hours=23))
        state = await state_of(handle)
        assert not state.warned and not state.overdue
        await time_env.sleep(timedelta(hours=2))
        state = await state_of(handle)
        assert state.warned and not state.overdue and state.stage is Stage.IN_PROGRESS
        warning = [m for m in await settle(handle, catcher, 2) if ".warning@" in m["Message-ID"]]
        assert warning and {"minh.tech@luarong.vn", "tuan.tech@luarong.vn"} <= addresses(warning[0])

        await time_env.sleep(timedelta(days=5))
        state = await state_of(handle)
        assert (state.overdue, state.escalation_level, state.stage) == (True, 1, Stage.IN_PROGRESS)
        breach = [m for m in await settle(handle, catcher, 3) if ".breach@" in m["Message-ID"]]
        assert breach
        assert {"tuan.tech@luarong.vn", "quang.manager@luarong.vn"} <= addresses(breach[0])

        await time_env.sleep(timedelta(days=1))
        state = await state_of(handle)
        assert state.escalation_level == 2 and state.breaches == 2
        # the complaint can still be worked and closed; the flags remain for the record
        await decide(handle, "resolve", RESOLVE)
        await decide(handle, "reply", REPLY)
        state = await decide(handle, "close", CLOSE)
        assert state.stage is Stage.CLOSED and state.overdue


async def test_first_response_breach_notifies_the_cs_supervisor(
    time_env: WorkflowEnvironment, client: Client, settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake())
        await time_env.sleep(timedelta(hours=23))
        assert not (await state_of(handle)).first_response_breached
        await time_env.sleep(timedelta(hours=2))
        state = await state_of(handle)
        assert state.first_response_breached and state.stage is Stage.RECEIVED
        found = [m for m in await settle(handle, catcher, 2) if ".first_response_breach@" in m["Message-ID"]]
        assert found and "hung.cs@luarong.vn" in found[0]["To"]
        # verifying late still works
        assert (await decide(handle, "verify", VERIFY)).stage is Stage.IN_PROGRESS


async def test_working_day_bound_fires_on_the_computed_date(
    time_env: WorkflowEnvironment, client: Client, settings: Settings, sessions: Sessions
) -> None:
    now = datetime.now(UTC)
    policy = SlaPolicy(calendar=CalendarKind.VN_WORKING_DAYS, holidays=vn_holidays([now.year, now.year + 1]))
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake(), policy=policy, received_at=now)
        await decide(handle, "verify", VERIFY)
        state = await state_of(handle)
        assert state.deadline == policy.add(state.received_at, timedelta(days=20))
        assert state.deadline - state.received_at >= timedelta(days=26)  # 4 weekends at least
        await time_env.sleep(state.deadline - datetime.now(UTC) - timedelta(hours=1))
        assert not (await state_of(handle)).overdue
        await time_env.sleep(timedelta(hours=2))
        assert (await state_of(handle)).overdue


async def test_signal_takes_the_same_path_as_the_update(client: Client, settings: Settings, sessions: Sessions) -> None:
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake())
        await handle.signal("verify", VERIFY.model_copy(update={"actor": CS_SUP}))  # wrong role: ignored
        await handle.signal("verify", VERIFY)
        for _ in range(50):
            state = await state_of(handle)
            if state.department:
                break
            await asyncio.sleep(0.1)
        assert (state.stage, state.department) == (Stage.IN_PROGRESS, "TECH")
        assert [e.action for e in state.log] == ["receive", "verify", "route"]


async def test_reply_by_phone_is_logged_not_mailed(
    client: Client, settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.READY_TO_REPLY)
        state = await decide(handle, "reply", Reply(actor=CS, method=ReplyMethod.PHONE, message="Đã gọi cho khách"))
        assert state.reply_method == "phone"
        async with sessions() as session:
            queued = (
                await session.scalars(select(OutboxMail.purpose).where(OutboxMail.complaint_id == handle.id))
            ).all()
            assert "reply" not in queued
            row = await session.scalar(
                select(ComplaintLog).where(ComplaintLog.complaint_id == handle.id, ComplaintLog.action == "reply")
            )
            assert row is not None and row.detail["method"] == "phone"


async def test_assigned_the_assignee_is_mailed_and_a_reroute_clears_the_assignee(
    client: Client, settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    """CS assigns a received complaint to a colleague (mailed); verification routes it to TECH,
    which clears the CS assignee; the TECH supervisor assigns its engineer (mailed), a reply keeps
    him; a reroute to BILLING clears him again, and the store row follows."""
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake(Channel.EMAIL))
        state = await decide(handle, "assign", Assign(actor=CS, assignee="hoa.cs"))
        assert (state.assignee, state.stage) == ("hoa.cs", Stage.RECEIVED)
        state = await decide(handle, "verify", VERIFY)
        assert (state.department, state.assignee) == ("TECH", None)
        assert state.log[-1].action == "route" and state.log[-1].detail["unassigned"] == "hoa.cs"
        state = await decide(handle, "assign", Assign(actor=TECH_SUP, assignee=TECH.user))
        assert state.assignee == TECH.user
        # taken for oneself: nobody to tell
        state = await decide(handle, "assign", Assign(actor=TECH, assignee=None))
        state = await decide(handle, "assign", Assign(actor=TECH, assignee=TECH.user))
        assert state.assignee == TECH.user
        async with sessions() as session:
            row = await session.get(Complaint, handle.id)
            assert row is not None and row.assignee == TECH.user
        state = await decide(handle, "reroute", Reroute(actor=TECH_SUP, department="BILLING", reason="Hóa đơn"))
        assert (state.department, state.assignee) == ("BILLING", None)
        assert state.log[-1].detail["unassigned"] == TECH.user

        mails = await settle(handle, catcher, 3)  # acknowledgement, and two assignments
        assigned = [m for m in mails if ".assigned@" in str(m["Message-ID"])]
        assert [addresses(m) for m in assigned] == [{"hoa.cs@luarong.vn"}, {"minh.tech@luarong.vn"}], assigned
        text = plain_text(next(m for m in assigned if "minh.tech@luarong.vn" in addresses(m)))
        assert "Lê Quang Minh" in text and "người phụ trách" in text and handle.id in text
        async with sessions() as session:
            row = await session.get(Complaint, handle.id)
            assert row is not None and (row.department_code, row.assignee) == ("BILLING", None)


async def test_conversation_the_handler_is_mailed_a_repeat_adds_nothing_and_cs_sees_a_reopen_request(
    client: Client, settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    """The customer writes while TECH handles it (its people are mailed), again once the engineer
    has it (only he is), the same mail is delivered twice (added once); our mails are outgoing
    entries; after closing the customer asks to reopen (the flags reach the store row for CS's
    queue) and CS's reopen lowers them."""
    async with running_worker(client, settings, sessions):
        handle = await start(client, settings, intake(Channel.EMAIL))
        await decide(handle, "verify", VERIFY)
        added = await add_customer_message(
            client, handle.id, CUSTOMER_MESSAGE.text, Channel.EMAIL, message_id=CUSTOMER_MESSAGE.message_id
        )
        assert added.outcome is MessageOutcome.ADDED and added.state is not None
        assert added.state.stage is Stage.IN_PROGRESS and not added.state.wrote_after_closing
        await decide(handle, "assign", Assign(actor=TECH_SUP, assignee=TECH.user))
        state = await decide(handle, "customer_message", CustomerMessage(actor=CS, text="Khách gọi", via=Channel.PHONE))
        assert state.messages[-1].noted_by == CS.user
        again = await add_customer_message(
            client, handle.id, CUSTOMER_MESSAGE.text, Channel.EMAIL, message_id=CUSTOMER_MESSAGE.message_id
        )
        # Temporal answers a repeated update id with the first delivery's result ...
        assert again.outcome is MessageOutcome.ADDED and again.state == added.state
        # ... and the workflow adds a message id it holds once, whatever the update's id
        assert (await decide(handle, "customer_message", CUSTOMER_MESSAGE)).version == state.version
        assert (await state_of(handle)).version == state.version, "a repeat changes nothing"
        for name, payload in (("resolve", RESOLVE), ("reply", REPLY), ("close", CLOSE)):
            await decide(handle, name, payload)
        after = await add_customer_message(
            client, handle.id, "Tôi muốn mở lại.\n-- \nAn", Channel.WEB, reopen_requested=True, message_id="web:1"
        )
        assert after.state is not None and (after.state.wrote_after_closing, after.state.reopen_requested) == (
            True,
            True,
        )
        async with sessions() as session:
            row = await session.get(Complaint, handle.id)
            assert row is not None and (row.stage, row.wrote_after_closing, row.reopen_requested) == (
                "closed",
                True,
                True,
            )
            assert row.last_customer_message_at == after.state.last_customer_message_at
        state = await decide(handle, "reopen", Reopen(actor=CS, reason="Khách yêu cầu mở lại"))
        assert (state.stage, state.wrote_after_closing, state.reopen_requested) == (Stage.ESCALATED, False, False)

        conversation = [(m.direction.value, m.purpose or m.via.value) for m in state.messages]
        assert conversation == [
            ("out", "acknowledgement"),
            ("in", "email"),
            ("in", "phone"),
            ("out", "reply"),
            ("out", "closing"),
            ("in", "web"),
            ("out", "reopened"),
        ]
        assert state.messages[3].text == REPLY.message
        # acknowledgement, reply, closing, reopened; escalated; two customer messages for staff
        mails = await settle(handle, catcher, 8)
        told = [addresses(m) for m in mails if ".customer_message@" in str(m["Message-ID"])]
        assert len(told) == 3, told
        assert {"minh.tech@luarong.vn", "tuan.tech@luarong.vn"} <= told[0], "no assignee yet: the department"
        assert told[1] == {"minh.tech@luarong.vn"}, "then the assignee alone"
        first = plain_text(next(m for m in mails if ".customer_message@" in str(m["Message-ID"])))
        assert "Mạng vẫn chập chờn" in first and "Sự cố đã được khắc phục" not in first  # quoted part trimmed
        async with sessions() as session:
            row = await session.get(Complaint, handle.id)
            assert row is not None and (row.wrote_after_closing, row.reopen_requested) == (False, False)


async def test_a_message_after_the_follow_up_ended_is_for_a_new_complaint(
    time_env: WorkflowEnvironment, client: Client, settings: Settings, sessions: Sessions
) -> None:
    """Past the reopen window the workflow has completed: the caller learns it (to file anew)."""
    async with running_worker(client, settings, sessions):
        handle = await at_stage(client, settings, Stage.CLOSED)
        await time_env.sleep(timedelta(days=31))
        await handle.result()
        late = await add_customer_message(client, handle.id, "Lại lỗi", Channel.EMAIL, message_id="<late@x>")
        assert late.outcome is MessageOutcome.FOLLOW_UP_ENDED
        unknown = await add_customer_message(client, "KN-ZZZZZZ", "?", Channel.EMAIL)
        assert unknown.outcome is MessageOutcome.UNKNOWN_COMPLAINT
