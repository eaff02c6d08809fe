"""The mailbox poll (workflows/mailbox_poll.py, activities/mailbox.py, intake/mail_intake.py)
against a real Dovecot (localstack/dovecot.py) and the real Temporal dev server: each message
filed once by its Message-ID, noise never filed, bounces marking our outbox mail, replies
threading, the checkpoint carried across continue-as-new, a UIDVALIDITY change, a worker
killed mid-batch and the IMAP server restarted mid-fetch."""

import asyncio
import os
import signal
import smtplib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.complaint_steps import ComplaintActivities
from activities.mailbox import MailboxActivities, imap_account
from config.settings import Settings
from domain.ids import complaint_id_for
from domain.mailbox import MailboxPollState, mailbox_workflow_id
from domain.models import ComplaintIntake, ComplaintState, Customer, Direction
from domain.steps import Activity
from domain.vocabulary import Channel
from intake.filing import file_complaint
from intake.imap_mailbox import ImapMailbox
from intake.mail_intake import MailIntake, TakenIn, thread_target
from intake.mail_message import MailMessage, content_key, parse_with_settings
from intake.mailbox_poll import poll_workflow_id, start_mailbox_poll, stop_mailbox_poll
from intake.smtp_gateway import bound_port, serve
from localstack.dovecot import DovecotServer
from localstack.mailcatcher import MailCatcher
from store.engine import make_engine, make_sessionmaker
from store.tables import Complaint, InboundMail, OutboxMail
from temporal_client.histories import activity_in_flight, failed_by_itself, still_pending, workflow_exists
from tests.conftest import Sessions
from tests.mail_corpus import EXPECTED, corpus, our_message_id
from tests.test_end_to_end import cuts_in, product_client
from worker import STRICT_SANDBOX, build_worker
from workflows.mailbox_poll import MailboxPollWorkflow

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime.now(UTC)


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


def imap_settings(settings: Settings, server: DovecotServer, **changes: object) -> Settings:
    values: dict[str, object] = {
        "imap_host": server.host,
        "imap_port": server.port,
        "imap_username": server.username,
        "imap_password": server.password,
        "imap_ca_file": server.ca_file,
        "imap_poll_interval": timedelta(milliseconds=500),
        "imap_timeout": timedelta(seconds=20),
    }
    values.update(changes)
    return settings.model_copy(update=values)


@pytest.fixture
async def product(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[Client]:
    client, engine = await product_client(dev_env, sqlite_url)
    yield client
    await engine.dispose()


@asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, sessions: Sessions, mailbox: MailboxActivities | None = None
) -> AsyncIterator[MailboxActivities]:
    mailbox = mailbox or MailboxActivities(sessions, settings)
    try:
        async with build_worker(client, settings, ComplaintActivities(sessions, settings), mailbox):
            yield mailbox
    finally:
        await mailbox.close()
        await stop_mailbox_poll(client, settings, "test over")  # every test's Dovecot: the same mailbox


def mail(tag: str, *, subject: str = "Khiếu nại giao hàng trễ", body: str = "Đơn hàng giao trễ 5 ngày.",
         headers: tuple[str, ...] = (), message_id: bool = True, html: bool = False,
         sender: str = "Nguyễn Văn An <an@example.vn>") -> bytes:  # fmt: skip
    """One message with CRLF lines, 8-bit UTF-8; ``tag`` makes its Message-ID and text unique."""
    lines = [
        f"From: {sender}",
        "To: cskh@luarong.vn",
        f"Subject: {subject} {tag}",
        f"Date: {format_datetime(NOW)}",
        *([f"Message-ID: <{tag}@example.vn>"] if message_id else []),
        *headers,
        "MIME-Version: 1.0",
        f"Content-Type: text/{'html' if html else 'plain'}; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        f"<p>{body} <b>{tag}</b></p><script>alert(1)</script>" if html else f"{body} {tag}",
        "",
    ]
    return "\r\n".join(lines).encode()


def tag() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


def key_of(tag_: str) -> str:
    return f"<{tag_}@example.vn>"


async def outcomes(sessions: Sessions, keys: list[str]) -> dict[str, InboundMail]:
    async with sessions() as session:
        rows = (await session.scalars(select(InboundMail).where(InboundMail.intake_key.in_(keys)))).all()
    return {row.intake_key: row for row in rows}


async def until_taken(sessions: Sessions, keys: list[str], timeout: float = 90) -> dict[str, InboundMail]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await outcomes(sessions, keys)
        if len(found) == len(set(keys)):
            return found
        if asyncio.get_running_loop().time() > deadline:
            missing = sorted(set(keys) - set(found))
            raise AssertionError(f"{len(missing)} of {len(set(keys))} messages not taken in: {missing[:5]}")
        await asyncio.sleep(0.3)


async def poll_state(client: Client, settings: Settings) -> MailboxPollState:
    workflow_id = poll_workflow_id(settings)
    return await client.get_workflow_handle(workflow_id).query("state", result_type=MailboxPollState)


async def until_polled(client: Client, settings: Settings, count: int, timeout: float = 60) -> MailboxPollState:
    """Until the poll has taken in ``count`` messages in all (duplicates included) and stopped."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            state = await poll_state(client, settings)
            if sum(state.totals.values()) >= count:
                return state
        except RPCError:  # between two runs of a continue-as-new
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the poll did not take in {count} messages")
        await asyncio.sleep(0.3)


async def complaints_for(sessions: Sessions, keys: list[str]) -> dict[str, str]:
    """intake key -> complaint id, as the store has projected them (one row per complaint)."""
    async with sessions() as session:
        rows = await session.execute(select(Complaint.intake_key, Complaint.id).where(Complaint.intake_key.in_(keys)))
    return {str(k): str(i) for k, i in rows.all()}


async def until_projected(sessions: Sessions, keys: list[str], timeout: float = 60) -> dict[str, str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(found := await complaints_for(sessions, keys)) < len(set(keys)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {len(found)} of {len(set(keys))} complaints projected")
        await asyncio.sleep(0.3)
    return found


async def flags(server: DovecotServer, folder: str = "INBOX") -> list[set[str]]:
    async with ImapMailbox(imap_account(imap_settings(Settings(), server))) as mailbox:
        await mailbox.select(folder)
        return [await mailbox.flags(uid) for uid in await mailbox.uids_after(0)]


async def test_each_message_is_filed_once_noise_never(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer
) -> None:
    settings = imap_settings(settings, dovecot, imap_batch_size=3)
    new = [tag() for _ in range(3)]
    noise = [tag() for _ in range(4)]
    raws = [
        mail(new[0]),
        mail(new[1], html=True, body="Nhân viên thái độ kém"),
        mail(new[2], subject="=?utf-8?B?S2hp4bq/dSBu4bqhaSBow7NhIMSRxqFu?="),
        mail(new[0]),  # the same message delivered twice
        mail(noise[0], headers=("Auto-Submitted: auto-replied",)),
        mail(noise[1], headers=("Precedence: bulk",)),
        mail(noise[2], sender="MAILER-DAEMON <mailer-daemon@example.vn>", subject="Undelivered"),
        mail(noise[3], sender="Lửa Rồng CSKH <cskh@luarong.vn>"),  # our own mail come back
    ]
    no_id = mail(tag(), message_id=False)
    raws.append(no_id)
    for raw in raws:
        dovecot.append(raw)
    async with running_worker(product, settings, sessions):
        assert await start_mailbox_poll(product, settings) is not None
        assert await start_mailbox_poll(product, settings) is not None  # idempotent: the same run
        state = await until_polled(product, settings, len(raws))
        keys = [key_of(t) for t in new] + [content_key(no_id)]
        taken = await until_taken(sessions, keys + [key_of(t) for t in noise])
        projected = await until_projected(sessions, keys)
        first = await product.get_workflow_handle(complaint_id_for(keys[1])).query("state", result_type=ComplaintState)
        third = await product.get_workflow_handle(complaint_id_for(keys[2])).query("state", result_type=ComplaintState)
    assert state.checkpoint.last_uid == len(raws)
    assert state.totals == {"filed": 5, "noise": 4}  # the duplicate got the first one's outcome
    for key in keys:
        assert taken[key].outcome == "filed" and taken[key].complaint_id == complaint_id_for(key)
        assert projected[key] == complaint_id_for(key)
        assert not await workflow_exists(product, complaint_id_for(key, 1))  # never a second complaint
    for t in noise:
        assert taken[key_of(t)].outcome == "noise"
        assert not await workflow_exists(product, complaint_id_for(key_of(t)))
    assert first.channel is Channel.EMAIL and first.customer.email == "an@example.vn"
    assert first.customer.name == "Nguyễn Văn An"
    assert "Nhân viên thái độ kém" in first.body and "<" not in first.body  # HTML made text
    assert "alert" not in first.body
    assert third.subject.startswith("Khiếu nại hóa đơn")
    assert all("\\Seen" in f for f in await flags(dovecot))  # flagged as configured


async def test_threads_replies_and_marks_bounces(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer
) -> None:
    settings = imap_settings(settings, dovecot)
    async with running_worker(product, settings, sessions):
        ids = []
        for _ in range(2):
            intake = ComplaintIntake(
                channel=Channel.EMAIL, customer=Customer(name="Trần Bình", email="binh@example.vn"),
                subject="Mạng chậm", body="Mạng chậm từ tuần trước", intake_key=f"test:{uuid.uuid4()}",
            )  # fmt: skip
            ids.append((await file_complaint(product, settings, intake)).complaint_id)
        acks = [our_message_id(cid, settings.mail_domain) for cid in ids]
        await until_sent(sessions, acks)
        by_reference, by_subject, bounce, stray = tag(), tag(), tag(), tag()
        replies = {
            by_reference: mail(by_reference, subject="Re: Đã tiếp nhận", headers=(f"References: <x@y.vn> {acks[0]}",)),
            by_subject: mail(by_subject, subject=f"Bổ sung thông tin [{ids[1]}]"),
        }
        for raw in [*replies.values(), replies[by_reference]]:  # the first reply delivered twice
            dovecot.append(raw)
        dovecot.append(dsn(bounce, acks[1]))
        dovecot.append(mail(stray, subject="Bổ sung [KN-222222]"))  # names no complaint of ours
        await start_mailbox_poll(product, settings)
        keys = [key_of(t) for t in (by_reference, by_subject, bounce, stray)]
        taken = await until_taken(sessions, keys)
        await until_polled(product, settings, 5)
        states = [await product.get_workflow_handle(cid).query("state", result_type=ComplaintState) for cid in ids]
    assert (taken[key_of(by_reference)].outcome, taken[key_of(by_reference)].complaint_id) == ("threaded", ids[0])
    assert (taken[key_of(by_subject)].outcome, taken[key_of(by_subject)].complaint_id) == ("threaded", ids[1])
    assert (taken[key_of(by_reference)].reason, taken[key_of(by_subject)].reason) == ("references", "subject_tag")
    # found by the pure function, by References and by the subject's tag
    assert [thread_target(parse_with_settings(raw, settings)) for raw in replies.values()] == ids
    for reply in (by_reference, by_subject):
        assert not await workflow_exists(product, complaint_id_for(key_of(reply)))
    # in the conversation, once each (the second delivery added nothing), as the customer's mail
    for state, reply in zip(states, (by_reference, by_subject), strict=True):
        incoming = [m for m in state.messages if m.direction is Direction.IN]
        assert len(incoming) == 1 and incoming[0].via is Channel.EMAIL and reply in incoming[0].text
    assert (taken[key_of(stray)].outcome, taken[key_of(stray)].reason) == ("filed", "unknown_complaint")
    assert taken[key_of(stray)].complaint_id == complaint_id_for(key_of(stray))
    assert (taken[key_of(bounce)].outcome, taken[key_of(bounce)].complaint_id) == ("bounce", ids[1])
    marked = await outbox(sessions, acks)
    assert marked[acks[1]].status == "bounced"
    assert "5.1.1" in (marked[acks[1]].last_error or "")
    assert marked[acks[0]].status != "bounced"


async def outbox(sessions: Sessions, message_ids: list[str]) -> dict[str, OutboxMail]:
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxMail).where(OutboxMail.message_id.in_(message_ids)))).all()
    return {row.message_id: row for row in rows}


async def until_sent(sessions: Sessions, message_ids: list[str]) -> None:
    """A bounce comes back for a mail that was sent: wait for our acknowledgements to go."""
    async with asyncio.timeout(60):
        while sum(m.status == "sent" for m in (await outbox(sessions, message_ids)).values()) < len(message_ids):
            await asyncio.sleep(0.3)


def dsn(tag_: str, original: str) -> bytes:
    """A delivery status notification (RFC 3464) about our mail ``original``."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.vn>\r\n"
        "To: cskh@luarong.vn\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{tag_}@example.vn>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n'
        "\r\n--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.vn\r\n\r\n"
        "Final-Recipient: rfc822; binh@example.vn\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <binh@example.vn>: Recipient address rejected\r\n"
        "--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original}\r\nFrom: cskh@luarong.vn\r\nSubject: Ack\r\n"
        "--r--\r\n"
    ).encode()


async def test_a_new_uidvalidity_rescans_without_filing_twice(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer
) -> None:
    folder = "Complaints"
    settings = imap_settings(settings, dovecot, imap_folder=folder)
    dovecot.create_folder(folder)
    first = [tag() for _ in range(3)]
    for t in first:
        dovecot.append(mail(t), folder)
    async with running_worker(product, settings, sessions):
        await start_mailbox_poll(product, settings)
        before = await until_polled(product, settings, 3)
        # Another client deletes the folder and makes it again: same name, a new UIDVALIDITY,
        # the same three messages back and two more.
        dovecot.delete_folder(folder)
        dovecot.create_folder(folder)
        later = [tag() for _ in range(2)]
        for t in first + later:
            dovecot.append(mail(t), folder)
        after = await until_polled(product, settings, 8)
        taken = await until_taken(sessions, [key_of(t) for t in first + later])
    assert after.checkpoint.uidvalidity != before.checkpoint.uidvalidity
    assert after.checkpoint.last_uid == 5
    assert all(row.outcome == "filed" for row in taken.values())
    for t in first + later:
        assert not await workflow_exists(product, complaint_id_for(key_of(t), 1))


async def test_checkpoint_survives_continue_as_new_and_a_worker_killed_mid_batch(
    dev_env: WorkflowEnvironment, product: Client, catcher: MailCatcher, dovecot: DovecotServer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'complaints.db'}"
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "COMPLAINTS_DATABASE_URL": url,
        "COMPLAINTS_DATA_DIR": str(tmp_path),
        "COMPLAINTS_TASK_QUEUE": f"mailbox-{uuid.uuid4()}",
        "COMPLAINTS_SMTP_PORT": str(catcher.port),
        "COMPLAINTS_STEP_TIMEOUT": "PT3S",
        "COMPLAINTS_WORKFLOW_TASK_TIMEOUT": "PT2S",
        "COMPLAINTS_STICKY_QUEUE_TIMEOUT": "PT2S",
        "COMPLAINTS_IMAP_HOST": dovecot.host,
        "COMPLAINTS_IMAP_PORT": str(dovecot.port),
        "COMPLAINTS_IMAP_USERNAME": dovecot.username,
        "COMPLAINTS_IMAP_PASSWORD": dovecot.password,
        "COMPLAINTS_IMAP_CA_FILE": str(dovecot.ca_file),
        "COMPLAINTS_IMAP_POLL_INTERVAL": "PT0.5S",
        "COMPLAINTS_IMAP_TIMEOUT": "PT4S",
        "COMPLAINTS_IMAP_BATCH_SIZE": "2",
        "COMPLAINTS_IMAP_POLLS_PER_RUN": "2",  # continue as new every two polls
    }
    tags = [tag() for _ in range(16)]
    for t in tags:
        dovecot.append(mail(t))
    keys = [key_of(t) for t in tags]
    engine: AsyncEngine = make_engine(url)
    sessions = make_sessionmaker(engine)
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker() -> None:  # the worker starts the poll itself, as COMPLAINTS_IMAP_HOST is set
        log = (tmp_path / f"worker-{len(workers)}.log").open("wb")
        workers.append(subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=log))

    try:
        start_worker()
        async with asyncio.timeout(90):
            while len(await outcomes_when_ready(sessions, keys)) < 5:
                await asyncio.sleep(0.1)
        workers[-1].send_signal(signal.SIGKILL)  # mid-batch: batches of two, a take-in under way
        workers[-1].wait()
        start_worker()
        taken = await until_taken(sessions, keys, timeout=120)
        projected = await until_projected(sessions, keys)
        settings = Settings(imap_host=dovecot.host, imap_username=dovecot.username, database_url=url, data_dir=tmp_path)
        state = await until_polled(product, settings, len(keys))
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        await engine.dispose()
        await stop_mailbox_poll(product, Settings(imap_host=dovecot.host, imap_username=dovecot.username), "test over")
    assert all(row.outcome == "filed" for row in taken.values())
    assert sorted(projected) == sorted(keys)  # one complaint each, none lost
    for key in keys:
        assert not await workflow_exists(product, complaint_id_for(key, 1))
    assert state.checkpoint.last_uid == len(keys)
    workflow_id = mailbox_workflow_id(dovecot.username, dovecot.host, "INBOX")
    # this test's runs only (every test's Dovecot has the same address and user)
    query = f"WorkflowId = '{workflow_id}' AND TaskQueue = '{env['COMPLAINTS_TASK_QUEUE']}'"
    runs = [w async for w in product.list_workflows(query)]
    assert sum(r.status is WorkflowExecutionStatus.CONTINUED_AS_NEW for r in runs) >= 3
    cuts: list[str] = []
    replayer = Replayer(
        workflows=[MailboxPollWorkflow], data_converter=product.data_converter, workflow_runner=STRICT_SANDBOX
    )
    for run in runs:
        history = await product.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        cuts += cuts_in(list(history.events))
        # deterministic under the strict sandbox, kill included
        assert (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
    assert cuts, "the kill cut nothing: no activity or workflow task was retried after a timeout"


async def outcomes_when_ready(sessions: Sessions, keys: list[str]) -> dict[str, InboundMail]:
    """The outcomes so far; none until the worker has made the store's tables."""
    try:
        return await outcomes(sessions, keys)
    except Exception:
        return {}


async def test_the_issue_mailbox_of_a_hundred(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer
) -> None:
    settings = imap_settings(settings, dovecot, imap_batch_size=25)
    async with running_worker(product, settings, sessions):
        ids = []
        for i in range(EXPECTED.replies):
            intake = ComplaintIntake(
                channel=Channel.EMAIL, customer=Customer(name=f"Khách {i}", email=f"k{i}@example.vn"),
                subject="Mạng chậm", body="Mạng chậm", intake_key=f"test:{uuid.uuid4()}",
            )  # fmt: skip
            ids.append((await file_complaint(product, settings, intake)).complaint_id)
        acks = [our_message_id(cid, settings.mail_domain) for cid in ids]
        await until_sent(sessions, acks)
        raws = corpus(ids, settings.mail_domain, now=datetime.now(UTC) - timedelta(hours=1))
        assert len(raws) == EXPECTED.messages
        for raw in raws:
            dovecot.append(raw)
        await start_mailbox_poll(product, settings)
        state = await until_polled(product, settings, EXPECTED.messages, timeout=300)
    totals = state.totals
    assert totals.get("filed") == EXPECTED.new_complaint_messages  # 80 complaints, 2 of them twice
    assert totals.get("threaded") == EXPECTED.replies
    assert totals.get("bounce") == EXPECTED.bounces
    assert totals.get("noise") == EXPECTED.auto_replies
    assert sum(totals.values()) == EXPECTED.messages
    keys = [parse_with_settings(raw, settings).intake_key for raw in raws]
    taken = await outcomes(sessions, keys)
    filed = {row.complaint_id for row in taken.values() if row.outcome == "filed"}
    assert len(filed) == EXPECTED.new_complaints
    assert len(await complaints_for(sessions, keys)) == EXPECTED.new_complaints
    assert sum(row.outcome == "threaded" for row in taken.values()) == EXPECTED.replies
    assert {row.complaint_id for row in taken.values() if row.outcome in ("threaded", "noise")} <= set(ids) | {None}
    bounced = [m for m in (await outbox(sessions, acks)).values() if m.status == "bounced"]
    assert len(bounced) == EXPECTED.bounces


POISON_SUBJECT = "trips the intake"


class BrokenIntake(MailIntake):
    """A fault injected into the intake: any message with POISON_SUBJECT breaks it, every time
    (what a bug that one odd message triggers looks like from the poll)."""

    async def take_in_parsed(self, message: MailMessage, source: str) -> TakenIn:
        if POISON_SUBJECT in message.subject:
            raise RuntimeError("the intake broke on this message")
        return await super().take_in_parsed(message, source)


class MailboxWithBrokenIntake(MailboxActivities):
    def _intake(self) -> MailIntake:
        return BrokenIntake(activity.client(), self._sessions, self._settings)


async def test_a_poison_message_is_recorded_flagged_and_skipped(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer
) -> None:
    settings = imap_settings(settings, dovecot)
    before, poison, after = tag(), tag(), tag()
    for raw in (mail(before), mail(poison, subject=POISON_SUBJECT), mail(after)):
        dovecot.append(raw)
    mailbox = MailboxWithBrokenIntake(sessions, settings)
    async with running_worker(product, settings, sessions, mailbox):
        await start_mailbox_poll(product, settings)
        taken = await until_taken(sessions, [key_of(before), key_of(poison), key_of(after)])
        state = await until_polled(product, settings, 3)
    assert [taken[key_of(t)].outcome for t in (before, poison, after)] == ["filed", "poison", "filed"]
    assert taken[key_of(poison)].reason == "RuntimeError"
    assert not await workflow_exists(product, complaint_id_for(key_of(poison)))
    assert state.checkpoint.last_uid == 3  # the mailbox went on past it
    first, failed, last = await flags(dovecot)
    assert "\\Seen" in first and "\\Seen" in last
    assert settings.imap_failed_flag in failed and "\\Seen" not in failed  # left for a person, marked


async def test_an_oversized_message_is_refused_with_a_reply_that_says_why(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer, catcher: MailCatcher
) -> None:
    settings = imap_settings(settings, dovecot, message_max_bytes=4_000)
    big = tag()
    dovecot.append(mail(big, body="Ảnh chụp màn hình.\r\n" * 400))
    async with running_worker(product, settings, sessions):
        await start_mailbox_poll(product, settings)
        taken = await until_taken(sessions, [key_of(big)])
    assert taken[key_of(big)].outcome == "oversized"
    assert not await workflow_exists(product, complaint_id_for(key_of(big)))
    replies = [m for m in catcher.messages() if m["In-Reply-To"] == key_of(big)]
    assert len(replies) == 1
    reply = replies[0]
    assert reply["To"].endswith("<an@example.vn>") and reply["Auto-Submitted"] == "auto-replied"
    body = reply.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "vượt quá giới hạn" in text and "over our" in text and "MB" in text


async def test_the_imap_server_restarted_mid_fetch_loses_nothing_and_moves_each_message(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer
) -> None:
    settings = imap_settings(
        settings, dovecot, imap_processed="move", imap_batch_size=3, imap_timeout=timedelta(seconds=5)
    )
    dovecot.create_folder(settings.imap_processed_folder)
    tags = [tag() for _ in range(24)]
    dovecot.append_all([mail(t) for t in tags])
    keys = [key_of(t) for t in tags]
    workflow_id = poll_workflow_id(settings)
    cut: PendingActivityInfo | None = None
    async with running_worker(product, settings, sessions):
        await start_mailbox_poll(product, settings)
        async with asyncio.timeout(60):
            while len(await outcomes(sessions, keys)) < 3:
                await asyncio.sleep(0.05)
        for _ in range(3):  # until the stop lands while a message is being fetched
            seen = await activity_in_flight(product, workflow_id, {Activity.MAILBOX_TAKE_IN.value}, within=30)
            await asyncio.to_thread(dovecot.stop)  # the whole server, its connections with it
            await asyncio.sleep(2)
            after = await still_pending(product, workflow_id, seen) if seen is not None else None
            await asyncio.to_thread(dovecot.start)
            if seen is not None and after is not None and after.attempt > seen.attempt and failed_by_itself(after):
                cut = seen  # it failed for the restart and is retried, not finished before it
                break
        taken = await until_taken(sessions, keys)
        state = await until_polled(product, settings, len(keys))
    assert cut is not None, "no take-in was in flight when the IMAP server stopped"
    assert all(row.outcome == "filed" for row in taken.values())
    assert len(await until_projected(sessions, keys)) == len(keys)
    for key in keys:
        assert not await workflow_exists(product, complaint_id_for(key, 1))
    assert sum(state.totals.values()) == len(keys) and state.checkpoint.last_uid == len(keys)
    assert await flags(dovecot) == []  # every message moved out of the inbox, once
    assert len(await flags(dovecot, settings.imap_processed_folder)) == len(keys)


async def test_the_same_mail_by_smtp_and_by_the_mailbox_is_one_complaint(
    product: Client, settings: Settings, sessions: Sessions, dovecot: DovecotServer
) -> None:
    """An MX that forwards to the gateway and also delivers to the polled mailbox: one complaint."""
    settings = imap_settings(settings, dovecot, inbound_smtp_port=0)
    both, no_id = tag(), mail(tag(), message_id=False)
    async with running_worker(product, settings, sessions):
        server = await serve(product, sessions, settings)
        try:
            for raw in (mail(both), no_id):
                assert (await asyncio.to_thread(smtp_send, bound_port(server), raw))[0] == 250
        finally:
            server.close()
            await server.wait_closed()
        for raw in (mail(both), no_id):
            dovecot.append(raw)
        await start_mailbox_poll(product, settings)
        state = await until_polled(product, settings, 2)
    keys = [key_of(both), content_key(no_id)]
    taken = await outcomes(sessions, keys)
    assert [(taken[k].source, taken[k].outcome) for k in keys] == [("smtp", "filed")] * 2  # the first way in
    assert state.totals == {"filed": 2}  # the poll found them filed
    assert sorted(await complaints_for(sessions, keys)) == sorted(keys)
    for key in keys:
        assert not await workflow_exists(product, complaint_id_for(key, 1))


def smtp_send(port: int, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("mx.example.vn")
        smtp.mail("an@example.vn")
        smtp.rcpt("cskh@luarong.vn")
        return smtp.data(raw)
