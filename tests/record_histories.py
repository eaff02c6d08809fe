"""Record the journeys' workflow histories into tests/histories/ (for the replay test).

    .venv/bin/python -m tests.record_histories [NAME ...]

Run it for a journey that is added (by name: the others stay as recorded); never to make a
changed workflow pass: the point of the recorded histories is that a changed workflow must
still replay the old ones (patch it).

The mailbox poll's runs (MAILBOX_RUNS) are recorded together, against a real Dovecot:
``python -m tests.record_histories mailbox_poll``.
"""

import asyncio
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.complaint_steps import ComplaintActivities
from config.settings import Settings
from domain import search_index as search_attributes
from domain.customer_view import address_hash
from domain.mailbox import MailboxPollState, mailbox_workflow_id
from domain.models import (
    SYSTEM_ACTOR,
    Assign,
    CustomerMessage,
    Decide,
    Direction,
    EditDraft,
    Rate,
    Reject,
    Reopen,
    Reroute,
    ResolveOnSpot,
    SignReply,
)
from domain.steps import STATUS_LINK_WORKFLOW, StatusLinkRequest, status_link_workflow_id
from domain.vocabulary import Category, Channel, Stage, SupervisorChoice
from intake.filing import file_complaint
from intake.mailbox_poll import start_mailbox_poll
from localstack.dovecot import DovecotServer
from localstack.mailcatcher import MailCatcher
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.tables import Complaint
from tests import journey as journey_helpers
from tests.conftest import binary
from tests.journey import BILLING, BILLING_SUP, CS, MANAGER, TECH, TECH_SUP, decide, intake, running_worker, start
from tests.stages import CLOSE, CUSTOMER_MESSAGE, REPLY, RESOLVE, VERIFY, at_stage
from tests.workflows_before import WithoutCustomerSide, WithoutEditDraft
from worker import SANDBOX, build_worker

HISTORIES = Path(__file__).resolve().parent / "histories"
Journey = Callable[[WorkflowEnvironment, Client, Settings], Awaitable[WorkflowHandle[Any, Any]]]


async def email_end_to_end(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    handle = await at_stage(client, settings, Stage.CLOSED)
    await env.sleep(timedelta(days=31))
    return handle


async def written_signature(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    handle = await start(client, settings, intake(Channel.POST, email=None))
    await decide(handle, "verify", VERIFY.model_copy(update={"category": Category.BILLING}))
    await decide(handle, "resolve", RESOLVE.model_copy(update={"actor": BILLING}))
    await decide(handle, "sign_reply", SignReply(actor=BILLING_SUP, approved=False, comment="Bổ sung số tiền"))
    await decide(handle, "resolve", RESOLVE.model_copy(update={"actor": BILLING}))
    await decide(handle, "sign_reply", SignReply(actor=BILLING_SUP, approved=True))
    await decide(handle, "close", CLOSE.model_copy(update={"actor": BILLING}))
    return handle


async def on_the_spot(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    """Recorded before a category was required (domain.transitions.ON_SPOT_NEEDS_A_CATEGORY):
    recorded again, it is recorded as then, without the rule."""
    from domain import transitions

    rule = transitions._payload_rule
    setattr(transitions, "_payload_rule", lambda payload, state: None)  # noqa: B010  (the rule's absence)
    try:
        handle = await start(client, settings, intake(Channel.IN_PERSON))
        await decide(handle, "resolve_on_spot", ResolveOnSpot(actor=CS, agreement="Đổi gói", cause="Tư vấn nhầm"))
        return handle
    finally:
        setattr(transitions, "_payload_rule", rule)  # noqa: B010


async def beyond_authority(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    handle = await at_stage(client, settings, Stage.IN_PROGRESS)
    await decide(handle, "resolve", RESOLVE.model_copy(update={"within_authority": False}))
    await decide(handle, "decide", Decide(actor=TECH_SUP, decision=SupervisorChoice.REROUTE,
                                          instructions="Chuyển kế toán", department="BILLING"))  # fmt: skip
    await decide(handle, "resolve", RESOLVE.model_copy(update={"actor": BILLING}))
    return handle


async def reopened(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    handle = await at_stage(client, settings, Stage.CLOSED)
    await env.sleep(timedelta(days=3))
    await decide(handle, "reopen", Reopen(actor=CS, reason="Khách chưa hài lòng"))
    await decide(handle, "decide", Decide(actor=TECH_SUP, decision=SupervisorChoice.APPROVE, instructions="OK"))
    await decide(handle, "reply", REPLY)
    await decide(handle, "close", CLOSE)
    return handle


async def breach(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    handle = await start(client, settings, intake())
    await env.sleep(timedelta(days=2))
    await decide(handle, "verify", VERIFY)
    await env.sleep(timedelta(days=20))
    await decide(handle, "resolve", RESOLVE)
    return handle


async def duplicate(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    handle = await start(client, settings, intake())
    await decide(handle, "reject", Reject(actor=CS, reason="Trùng", duplicate_of="KN-23456A"))
    return handle


async def filed_indexed_on_change(
    env: WorkflowEnvironment, client: Client, settings: Settings
) -> WorkflowHandle[Any, Any]:
    """Filed as the API files (search attributes set at start), then upserted only on change."""
    filed = await file_complaint(client, settings, intake())
    handle = client.get_workflow_handle(filed.complaint_id)
    for name, payload in (("verify", VERIFY), ("resolve", RESOLVE), ("reply", REPLY), ("close", CLOSE)):
        await decide(handle, name, payload)
    return handle


async def jobs_in_order(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    """Recorded with workflows/job_order.py's marker: jobs one at a time, updates last."""
    return await beyond_authority(env, client, settings)


async def route_entry_from_the_activity(
    env: WorkflowEnvironment, client: Client, settings: Settings
) -> WorkflowHandle[Any, Any]:
    """Recorded once the route activity returned the routing's log entry (computed once, there)."""
    return await beyond_authority(env, client, settings)


async def reply_by_email_without_an_address(
    env: WorkflowEnvironment, client: Client, settings: Settings
) -> WorkflowHandle[Any, Any]:
    """Recorded as the code before the rule took them (domain.transitions.REPLY_NEEDS_AN_ADDRESS):
    an e-mail reply to a customer without an address accepted, as an update and as a signal
    after a reopen. Today's code must replay both (the rule is gated by a patch)."""
    from domain import transitions

    rule = transitions._payload_rule
    setattr(transitions, "_payload_rule", lambda payload, state: None)  # noqa: B010  (the rule's absence)
    try:
        handle = await start(client, settings, intake(Channel.PHONE, email=None))
        await decide(handle, "verify", VERIFY)
        await decide(handle, "resolve", RESOLVE)
        await decide(handle, "reply", REPLY)  # by e-mail, to no address: accepted before the rule
        await decide(handle, "close", CLOSE)
        await decide(handle, "reopen", Reopen(actor=CS, reason="Khách gọi lại"))
        await decide(
            handle, "decide", Decide(actor=TECH_SUP, decision=SupervisorChoice.APPROVE, instructions="Gọi lại")
        )
        await handle.signal("reply", REPLY)  # the same as a signal
        await asyncio.sleep(1)
        return handle
    finally:
        setattr(transitions, "_payload_rule", rule)  # noqa: B010


async def assigned(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    """Assignment (issue 13): CS assigns a colleague (mailed), the routing at verification clears
    it, the supervisor assigns the engineer (mailed), he gives it back and takes it himself, a
    reroute to another department clears him; that department resolves it."""
    handle = await start(client, settings, intake())
    await decide(handle, "assign", Assign(actor=CS, assignee="hoa.cs"))
    await decide(handle, "verify", VERIFY)
    await decide(handle, "assign", Assign(actor=TECH_SUP, assignee=TECH.user))
    await decide(handle, "assign", Assign(actor=TECH, assignee=None))
    await decide(handle, "assign", Assign(actor=TECH, assignee=TECH.user))
    await decide(handle, "reroute", Reroute(actor=TECH_SUP, department="BILLING", reason="Hóa đơn"))
    await decide(handle, "resolve", RESOLVE.model_copy(update={"actor": BILLING}))
    return handle


async def conversation(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    """The conversation (issue 14): the customer writes while TECH handles it, CS notes a call,
    the same mail arrives twice (added once), our mails become outgoing entries, and after
    closing the customer asks to reopen, which CS confirms."""
    handle = await start(client, settings, intake())
    await decide(handle, "verify", VERIFY)
    await decide(handle, "customer_message", CUSTOMER_MESSAGE)
    await decide(handle, "assign", Assign(actor=TECH_SUP, assignee=TECH.user))
    await decide(handle, "customer_message", CustomerMessage(actor=CS, text="Khách gọi hỏi", via=Channel.PHONE))
    await decide(handle, "customer_message", CUSTOMER_MESSAGE)  # delivered again
    for name, payload in (("resolve", RESOLVE), ("reply", REPLY), ("close", CLOSE)):
        await decide(handle, name, payload)
    await decide(handle, "customer_message", CUSTOMER_MESSAGE.model_copy(update={"message_id": "web:1",
                                                                               "reopen_requested": True}))  # fmt: skip
    await decide(handle, "reopen", Reopen(actor=CS, reason="Khách yêu cầu mở lại"))
    return handle


async def on_the_spot_signalled_before_the_rule(
    env: WorkflowEnvironment, client: Client, settings: Settings
) -> WorkflowHandle[Any, Any]:
    """Recorded as the code before the category was required: resolved on the spot by a signal
    without one, accepted. Today's code must replay it accepted (the rule is gated by a patch)."""
    from domain import transitions

    rule = transitions._payload_rule
    setattr(transitions, "_payload_rule", lambda payload, state: None)  # noqa: B010  (the rule's absence)
    try:
        handle = await start(client, settings, intake(Channel.IN_PERSON))
        await handle.signal("resolve_on_spot", ResolveOnSpot(actor=CS, agreement="Đổi gói", cause="Tư vấn nhầm"))
        await asyncio.sleep(1)
        return handle
    finally:
        setattr(transitions, "_payload_rule", rule)  # noqa: B010


async def on_the_spot_with_a_category(
    env: WorkflowEnvironment, client: Client, settings: Settings
) -> WorkflowHandle[Any, Any]:
    """Since the category is required on the spot (issue 13): a signal without one refused by the
    workflow (under the rule's patch), then the decision with its category."""
    handle = await start(client, settings, intake(Channel.IN_PERSON))
    without = ResolveOnSpot(actor=CS, agreement="Đổi gói", cause="Tư vấn nhầm")
    await handle.signal("resolve_on_spot", without)
    await asyncio.sleep(1)
    await decide(handle, "resolve_on_spot", without.model_copy(update={"category": Category.SALES}))
    return handle


async def draft_edited(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    """The supervisor's versions of the reply draft (issue 13): a letter resolved beyond authority,
    reworded by the supervisor (an update) before approving, by the manager (a signal) before
    the signature; the letter is made from the last version."""
    handle = await start(client, settings, intake(Channel.POST, email=None))
    await decide(handle, "verify", VERIFY)
    await decide(handle, "resolve", RESOLVE.model_copy(update={"within_authority": False}))
    await decide(handle, "edit_draft", EditDraft(actor=TECH_SUP, reply_draft="Chúng tôi đã thay modem.", reason="Rõ"))
    await decide(handle, "decide", Decide(actor=TECH_SUP, decision=SupervisorChoice.APPROVE, instructions="Đồng ý"))
    await handle.signal("edit_draft", EditDraft(actor=MANAGER, reply_draft="Chúng tôi đã thay modem miễn phí."))
    await asyncio.sleep(1)
    await decide(handle, "sign_reply", SignReply(actor=TECH_SUP, approved=True))
    return handle


@asynccontextmanager
async def older_worker(client: Client, settings: Settings, older: type) -> AsyncIterator[Settings]:
    """A worker running ``older`` (tests.workflows_before) on a queue of its own: the settings
    that start complaints on it."""
    before = settings.model_copy(update={"task_queue": f"{settings.task_queue}-{older.__name__}"})
    engine = make_engine(settings.database_url)
    activities = ComplaintActivities(make_sessionmaker(engine), before)
    try:
        async with Worker(client, task_queue=before.task_queue, workflows=[older],
                          activities=activities.all(), workflow_runner=SANDBOX):  # fmt: skip
            yield before
    finally:
        await engine.dispose()


async def edit_draft_signalled_before_the_decision(
    env: WorkflowEnvironment, client: Client, settings: Settings
) -> WorkflowHandle[Any, Any]:
    """Recorded by a worker that had no ``edit_draft`` yet (the workflow without its handlers, on
    a queue of its own): the signal sent to it stays unhandled and the letter is signed as
    drafted. Today's code must replay it so (domain.transitions.LATER_DECISIONS' patch)."""

    async with older_worker(client, settings, WithoutEditDraft) as before:
        handle = await start(client, before, intake(Channel.POST, email=None))
        await decide(handle, "verify", VERIFY)
        await decide(handle, "resolve", RESOLVE)
        await handle.signal("edit_draft", EditDraft(actor=TECH_SUP, reply_draft="Không bao giờ được áp dụng"))
        await asyncio.sleep(1)
        state = await decide(handle, "sign_reply", SignReply(actor=TECH_SUP, approved=True))
        assert state.reply_message == RESOLVE.reply_draft, "the old worker applied the signal"
        await asyncio.sleep(1)  # let background deliveries finish into the history
        return handle


async def customer_side_signalled_before_the_decisions(
    env: WorkflowEnvironment, client: Client, settings: Settings
) -> WorkflowHandle[Any, Any]:
    """Recorded by a worker from before ``customer_message`` and ``rate`` (the workflow without
    their handlers, on a queue of its own): both signals stay unhandled. Today's code must replay
    the run so (domain.transitions.LATER_DECISIONS' patches)."""
    async with older_worker(client, settings, WithoutCustomerSide) as before:
        handle = await at_stage(client, before, Stage.CLOSED)
        await handle.signal("customer_message", CUSTOMER_MESSAGE)
        await handle.signal("rate", Rate(actor=SYSTEM_ACTOR, score=1, comment="Không bao giờ được áp dụng"))
        await asyncio.sleep(1)
        state = await decide(handle, "reopen", Reopen(actor=CS, reason="Khách gọi hotline"))
        incoming = [m for m in state.messages if m.direction is Direction.IN]
        assert not incoming and state.satisfaction is None, "the old worker applied a signal"
        await asyncio.sleep(1)  # let background deliveries finish into the history
        return handle


async def rated(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    """The customer's rating (issue 14): rated once (a second rating of that closing, sent as a
    signal, refused in the workflow), then reopened, closed again and rated again."""
    handle = await at_stage(client, settings, Stage.CLOSED)
    await decide(handle, "rate", Rate(actor=SYSTEM_ACTOR, score=2, comment="Chậm"))
    await handle.signal("rate", Rate(actor=SYSTEM_ACTOR, score=5))  # the same closing: refused
    await decide(handle, "reopen", Reopen(actor=CS, reason="Khách chưa hài lòng"))
    await decide(handle, "decide", Decide(actor=TECH_SUP, decision=SupervisorChoice.APPROVE, instructions="OK"))
    await decide(handle, "reply", REPLY)
    await decide(handle, "close", CLOSE)
    await decide(handle, "rate", Rate(actor=SYSTEM_ACTOR, score=4))
    return handle


async def status_link_mailed(env: WorkflowEnvironment, client: Client, settings: Settings) -> WorkflowHandle[Any, Any]:
    """The public lookup (issue 14): a customer asks for their status link again with the right
    case id and address; the run queues the link mail and delivers it."""
    complaint = await start(client, settings, intake())
    engine = make_engine(settings.database_url)
    try:
        for _ in range(100):  # the lookup reads the store: wait for the complaint's row
            async with make_sessionmaker(engine)() as session:
                if await session.get(Complaint, complaint.id) is not None:
                    break
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    request = StatusLinkRequest(complaint_id=complaint.id, email_hash=address_hash(" An.Nguyen@example.vn "),
                                key=uuid.uuid4().hex, requested_at=datetime.now(UTC))  # fmt: skip
    handle = await client.start_workflow(STATUS_LINK_WORKFLOW, request, id=status_link_workflow_id(request.key),
                                         task_queue=settings.task_queue)  # fmt: skip
    assert await handle.result() is True, "the link was not mailed"
    return handle


JOURNEYS: dict[str, Journey] = {
    f.__name__: f
    for f in (
        email_end_to_end,
        written_signature,
        on_the_spot,
        beyond_authority,
        reopened,
        breach,
        duplicate,
        filed_indexed_on_change,
        jobs_in_order,
        route_entry_from_the_activity,
        reply_by_email_without_an_address,
        assigned,
        conversation,
        on_the_spot_signalled_before_the_rule,
        on_the_spot_with_a_category,
        draft_edited,
        edit_draft_signalled_before_the_decision,
        rated,
        customer_side_signalled_before_the_decisions,
        status_link_mailed,
    )
}
# These need days to pass: recorded on the time-skipping server, which has no custom search
# attributes. The others are recorded on the dev server with the search attributes upserted.
NEEDS_TIME = {"email_end_to_end", "reopened", "breach"}


# The mailbox poll (workflows/mailbox_poll.py), one history a run: the first run takes in a filed
# message, a poison one (skipped, flagged), a second filed one, an auto-reply and a duplicate in
# full batches of two, sleeps, and continues as new; the second starts from the carried
# checkpoint and totals, finds the folder made anew (a new UIDVALIDITY) and rescans it, the
# poison message skipped again.
MAILBOX_RUNS = ("mailbox_poll_poison_skipped", "mailbox_poll_new_uidvalidity")
MAILBOX_RECORDING = "mailbox_poll"


async def _until_state(client: Client, workflow_id: str, taken_in: int) -> MailboxPollState:
    """Until the poll (whichever run) has taken in ``taken_in`` messages in all."""
    async with asyncio.timeout(120):
        while True:
            try:
                state = await client.get_workflow_handle(workflow_id).query("state", result_type=MailboxPollState)
                if sum(state.totals.values()) >= taken_in:
                    return state
            except RPCError:  # between two runs
                pass
            await asyncio.sleep(0.2)


async def _ended_run(client: Client, workflow_id: str, run_id: str) -> WorkflowHistory:
    """The history of ``run_id`` once it has continued as new."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async with asyncio.timeout(120):
        while (await handle.describe()).status is not WorkflowExecutionStatus.CONTINUED_AS_NEW:
            await asyncio.sleep(0.2)
    return await handle.fetch_history()


def _next_run(history: WorkflowHistory) -> str:
    last = history.events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    return last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


async def record_mailbox_poll(url: str, catcher_port: int) -> dict[str, WorkflowHistory]:
    """The runs of MAILBOX_RUNS, on the dev server and a throwaway Dovecot."""
    from tests.test_mailbox_poll import POISON_SUBJECT, MailboxWithBrokenIntake, imap_settings, mail, tag

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL),
    )
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    folder = "Complaints"
    try:
        with DovecotServer() as dovecot:
            base = Settings(database_url=url, task_queue=f"rec-{uuid.uuid4()}", smtp_port=catcher_port)
            settings = imap_settings(base, dovecot, imap_folder=folder, imap_batch_size=2, imap_polls_per_run=3,
                                     imap_poll_interval=timedelta(seconds=2))  # fmt: skip
            dovecot.create_folder(folder)
            first, poison, second, noise = tag(), tag(), tag(), tag()
            raws = [
                mail(first),
                mail(poison, subject=POISON_SUBJECT),
                mail(second),
                mail(noise, headers=("Auto-Submitted: auto-replied",)),
                mail(first),  # delivered twice
            ]
            for raw in raws:
                dovecot.append(raw, folder)
            workflow_id = mailbox_workflow_id(settings.imap_username, settings.imap_host, folder)
            mailbox = MailboxWithBrokenIntake(sessions, settings)
            try:
                async with build_worker(env.client, settings, ComplaintActivities(sessions, settings), mailbox):
                    handle = await start_mailbox_poll(env.client, settings)
                    assert handle is not None and handle.first_execution_run_id is not None
                    await _until_state(env.client, workflow_id, len(raws))
                    run1 = await _ended_run(env.client, workflow_id, handle.first_execution_run_id)
                    # Another client deletes the folder and makes it again: a new UIDVALIDITY.
                    dovecot.delete_folder(folder)
                    dovecot.create_folder(folder)
                    for raw in [*raws[:2], mail(tag())]:
                        dovecot.append(raw, folder)
                    await _until_state(env.client, workflow_id, len(raws) + 3)
                    run2 = await _ended_run(env.client, workflow_id, _next_run(run1))
                    await env.client.get_workflow_handle(workflow_id).terminate("recorded")
            finally:
                await mailbox.close()
    finally:
        await engine.dispose()
        await env.shutdown()
    return dict(zip(MAILBOX_RUNS, (run1, run2), strict=True))


def set_search_attributes(on: bool) -> None:
    journey_helpers.SEARCH_ATTRIBUTES_DEFAULT = on


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, MailCatcher(port=0) as catcher:
        url = f"sqlite+aiosqlite:///{tmp}/store.db"
        await upgrade(url)
        engine = make_engine(url)
        wanted = sys.argv[1:] or [*JOURNEYS, MAILBOX_RECORDING]
        for name, journey in JOURNEYS.items():
            if name not in wanted:
                continue
            if name in NEEDS_TIME:
                env = await WorkflowEnvironment.start_time_skipping(
                    test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
                )
            else:
                env = await WorkflowEnvironment.start_local(
                    dev_server_existing_path=binary("temporal"),
                    data_converter=pydantic_data_converter,
                    search_attributes=list(search_attributes.ALL),
                )
            settings = Settings(database_url=url, task_queue=f"rec-{uuid.uuid4()}", smtp_port=catcher.port)
            async with running_worker(env.client, settings, make_sessionmaker(engine)):
                set_search_attributes(name not in NEEDS_TIME)
                handle = await journey(env, env.client, settings)
                await asyncio.sleep(1)  # let background deliveries finish into the history
                history = await handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())
            print(f"{name}: {len(history.events)} events")
            await env.shutdown()
        if MAILBOX_RECORDING in wanted:
            for name, history in (await record_mailbox_poll(url, catcher.port)).items():
                (HISTORIES / f"{name}.json").write_text(history.to_json())
                print(f"{name}: {len(history.events)} events")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
