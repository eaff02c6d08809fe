"""A customer's text too long for the workflow state (intake.long_text), through the real intake
path (MailIntake over a real dev server, real worker, real store, the admin app): a 1 MB new
complaint by mail and a 1 MB reply are filed and threaded, the state carries a shortened text
with the marker, and the full text is the message's .txt attachment, which staff download."""

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import AttachmentRef, ComplaintState, Direction
from intake.long_text import BODY_MAX_CHARS, FULL_BODY_TEXT, MARKER, MESSAGE_MAX_CHARS, shorten
from intake.mail_intake import MailIntake, Outcome
from store.attachments import AttachmentStore
from store.complaint_keys import shred
from store.engine import transaction
from tests.conftest import Sessions
from tests.test_admin_pages import Browser, app  # noqa: F401

TEMPORAL_WARNS = 256 * 1024


def long_text(size: int, tag: str) -> str:
    line = f"{tag}: mạng chập chờn, mất kết nối từ tối qua, đã khởi động lại modem nhiều lần.\n"
    text = "".join(f"{i:06d} {line}" for i in range(size // len(line.encode()) + 1))
    return text.strip()


def mail(subject: str, text: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Trần Thị Bích <bich.tran@example.vn>"
    message["To"] = "khieunai@luarong.vn"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@example.vn>"
    message.set_content(text)
    return message.as_bytes()


def the_text_file(refs: list[AttachmentRef]) -> AttachmentRef:
    [found] = [r for r in refs if r.content_type == "text/plain"]
    assert found.name == "toan-van.txt"
    return found


def test_shorten_keeps_within_bytes_and_characters_and_never_splits_a_character() -> None:
    assert shorten("  ngắn  ", 64 * 1024, MESSAGE_MAX_CHARS) is None
    vietnamese = "ệ" * 40_000  # 3 bytes each: 120,000 bytes in 40,000 characters
    cut = shorten(vietnamese, 64 * 1024, MESSAGE_MAX_CHARS)
    assert cut is not None and cut.endswith(MARKER) and len(cut.encode()) <= 64 * 1024
    assert set(cut.removesuffix(MARKER)) == {"ệ"}
    ascii_text = "a" * 60_000  # within the bytes, over the characters a message may have
    cut = shorten(ascii_text, 64 * 1024, MESSAGE_MAX_CHARS)
    assert cut is not None and len(cut) == MESSAGE_MAX_CHARS
    body = shorten(ascii_text, 64 * 1024, BODY_MAX_CHARS)
    assert body is not None and len(body) == BODY_MAX_CHARS


async def test_a_1_mb_mail_and_a_1_mb_reply_are_taken_in_with_their_full_text_kept(
    app: FastAPI,  # noqa: F811  (runs the worker)
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    limit = settings.message_text_max_bytes
    files = AttachmentStore.of(settings, sessions)
    intake_ = MailIntake(dev_env.client, sessions, settings)

    # A new complaint: 1 MB of text.
    first_text = long_text(1024 * 1024, "Thư đầu")
    raw = mail("Mất mạng cả tuần", first_text)
    parsed = intake_.parse(raw)
    assert parsed.text.strip() == first_text
    filed = await intake_.take_in(raw, "smtp")
    assert filed.outcome is Outcome.FILED and filed.complaint_id, filed
    cid = filed.complaint_id
    handle = dev_env.client.get_workflow_handle(cid)
    state = await handle.query("state", result_type=ComplaintState)
    assert state.body.endswith(MARKER) and len(state.body) <= BODY_MAX_CHARS and len(state.body.encode()) <= limit
    assert first_text.startswith(state.body.removesuffix(MARKER))
    [carrier] = [m for m in state.messages if m.message_id == f"{parsed.intake_key}:full-text"]
    assert carrier.text == FULL_BODY_TEXT
    body_file = the_text_file(carrier.attachments)
    assert (await files.open(cid, body_file)).data.decode() == first_text, "the whole mail is kept"
    assert (await intake_.take_in(raw, "imap")).again  # delivered twice: filed and added once

    # A reply to it: 1 MB again.
    reply_text = long_text(1024 * 1024, "Thư trả lời")
    threaded = await intake_.take_in(mail(f"Re: [{cid}] Mất mạng cả tuần", reply_text), "imap")
    assert (threaded.outcome, threaded.complaint_id) == (Outcome.THREADED, cid), threaded
    state = await handle.query("state", result_type=ComplaintState)
    reply = [m for m in state.messages if m.direction is Direction.IN][-1]
    assert reply.text.endswith(MARKER) and len(reply.text.encode()) <= limit
    assert reply_text.startswith(reply.text.removesuffix(MARKER))
    reply_file = the_text_file(reply.attachments)
    assert (await files.open(cid, reply_file)).data.decode() == reply_text
    assert len(state.model_dump_json().encode()) < TEMPORAL_WARNS, "the state stays small"

    # Staff see that the text was shortened and download the whole as text.
    cs = await Browser(app).login("lan.cs", lang="vi")
    page = (await cs.get(f"/complaints/{cid}")).text
    assert page.count('data-part="full-text"') == 2
    assert "toàn văn nằm trong tệp .txt đính kèm" in page
    got = await cs.http.get(f"/complaints/{cid}/attachments/{reply_file.sha256}")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["content-disposition"].startswith('attachment; filename="toan-van.txt"')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.content.decode() == reply_text


async def test_a_long_reply_to_an_erased_complaint_is_filed_anew_not_lost(
    app: FastAPI,  # noqa: F811  (runs the worker)
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
) -> None:
    """The full text cannot be kept under a complaint whose key is shredded: the reply is filed as
    the complaint that follows it (it used to fail every attempt and end as a poison message)."""
    filed = await MailIntake(dev_env.client, sessions, settings).take_in(mail("Mất mạng", "Mạng mất."), "smtp")
    assert filed.outcome is Outcome.FILED and filed.complaint_id, filed
    erased = filed.complaint_id
    async with transaction(sessions) as session:
        await shred(session, erased, datetime.now(UTC))  # erased: its key gone (a shredded row)

    reply_text = long_text(70 * 1024, "Thư trả lời")
    taken = await MailIntake(dev_env.client, sessions, settings).take_in(
        mail(f"Re: [{erased}] Mất mạng", reply_text), "imap"
    )
    assert taken.outcome is Outcome.FILED and taken.complaint_id not in (None, erased), taken
    assert taken.reason == "follow_up_ended", taken
    assert taken.complaint_id is not None
    state = await dev_env.client.get_workflow_handle(taken.complaint_id).query("state", result_type=ComplaintState)
    assert erased in state.subject and state.body.endswith(MARKER)
    [carrier] = [m for m in state.messages if m.attachments]
    full = the_text_file(carrier.attachments)
    assert (await AttachmentStore.of(settings, sessions).open(taken.complaint_id, full)).data.decode() == reply_text
