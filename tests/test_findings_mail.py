"""Issue 12 findings about mail, each against a real SMTP server (aiosmtpd) on loopback.

Medium 5: an internationalised customer address is delivered with SMTPUTF8 where the server
offers it, its IDN domain alone as punycode; a permanent refusal marks the mail ``failed`` and
stops the retries, a temporary one keeps them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.complaint_steps import ComplaintActivities
from activities.mail_send import MailUnavailable
from config.settings import Settings
from domain.models import Customer
from localstack.mailcatcher import MailCatcher
from store import projection
from store.engine import transaction
from store.tables import OutboxMail

UNICODE_ADDRESS = "ngườidùng@ví-dụ.vn"


async def queue(sessions: Any, message_id: str, recipient: str) -> None:
    async with transaction(sessions) as session:
        await projection.enqueue_mail(
            session, message_id=message_id, complaint_id="KN-UTF8ML", purpose="acknowledgement",
            recipients=[recipient], subject="[KN-UTF8ML] Đã tiếp nhận", body_text="Xin chào",
            body_html="<p>Xin chào</p>", created_at=datetime.now(UTC),
        )  # fmt: skip


async def row(sessions: Any, message_id: str) -> OutboxMail:
    async with sessions() as session:
        found = await session.get(OutboxMail, message_id)
        assert found is not None
        return found  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Recorder:
    """Keeps the envelope of each mail; answers RCPT with ``rcpt_answer`` when given."""

    def __init__(self, rcpt_answer: str | None = None) -> None:
        self.rcpt_answer = rcpt_answer
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_answer is not None:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK"


@contextmanager
def _server(handler: _Recorder, smtputf8: bool) -> Iterator[tuple[_Recorder, int]]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def ascii_only_server() -> Iterator[tuple[_Recorder, int]]:
    """A real SMTP server that does not offer SMTPUTF8."""
    with _server(_Recorder(), smtputf8=False) as running:
        yield running


def test_the_customer_model_accepts_an_internationalised_address() -> None:
    assert Customer(name="Người dùng", email=UNICODE_ADDRESS).email == UNICODE_ADDRESS


async def test_a_unicode_address_is_delivered_with_smtputf8(
    settings: Settings, sessions: Any, catcher: MailCatcher
) -> None:
    message_id = "<KN-UTF8ML.1.acknowledgement@luarong.vn>"
    await queue(sessions, message_id, f"Người dùng <{UNICODE_ADDRESS}>")
    await ActivityEnvironment().run(ComplaintActivities(sessions, settings).deliver_mail, message_id)
    arrived = [m for m in catcher.messages() if m["Message-ID"] == message_id]
    assert len(arrived) == 1
    assert UNICODE_ADDRESS in arrived[0]["X-RcptTo"]
    assert UNICODE_ADDRESS in str(arrived[0]["To"])
    assert (await row(sessions, message_id)).status == "sent"


async def test_an_idn_domain_alone_goes_as_punycode_to_a_server_without_smtputf8(
    settings: Settings, sessions: Any, ascii_only_server: tuple[_Recorder, int]
) -> None:
    recorder, port = ascii_only_server
    message_id = "<KN-UTF8ML.2.acknowledgement@luarong.vn>"
    await queue(sessions, message_id, "an@ví-dụ.vn")
    plain = settings.model_copy(update={"smtp_port": port})
    await ActivityEnvironment().run(ComplaintActivities(sessions, plain).deliver_mail, message_id)
    [(_, rcpt_tos, raw)] = recorder.envelopes
    punycode = "ví-dụ.vn".encode("idna").decode()  # the standard library's own IDNA codec
    assert rcpt_tos == [f"an@{punycode}"]
    assert raw.isascii() and f"\r\nTo: an@{punycode}\r\n".encode() in raw
    assert (await row(sessions, message_id)).status == "sent"


async def test_a_unicode_local_part_without_smtputf8_fails_once_with_the_reason(
    settings: Settings, sessions: Any, ascii_only_server: tuple[_Recorder, int]
) -> None:
    recorder, port = ascii_only_server
    message_id = "<KN-UTF8ML.3.acknowledgement@luarong.vn>"
    await queue(sessions, message_id, UNICODE_ADDRESS)
    plain = settings.model_copy(update={"smtp_port": port})
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(ComplaintActivities(sessions, plain).deliver_mail, message_id)
    assert raised.value.non_retryable
    failed = await row(sessions, message_id)
    assert failed.status == "failed" and failed.last_error and "SMTPUTF8" in failed.last_error
    assert recorder.envelopes == []


async def test_a_permanent_refusal_fails_and_a_temporary_one_retries(settings: Settings, sessions: Any) -> None:
    for answer, status in (("550 5.1.1 no such user", "failed"), ("451 4.3.0 try later", "pending")):
        message_id = f"<KN-UTF8ML.{answer[:3]}.acknowledgement@luarong.vn>"
        await queue(sessions, message_id, "an@example.vn")
        with _server(_Recorder(rcpt_answer=answer), smtputf8=True) as (_, port):
            configured = settings.model_copy(update={"smtp_port": port})
            expected: type[Exception] = ApplicationError if status == "failed" else MailUnavailable
            with pytest.raises(expected):
                await ActivityEnvironment().run(ComplaintActivities(sessions, configured).deliver_mail, message_id)
        mail = await row(sessions, message_id)
        assert mail.status == status and mail.last_error and answer[:3] in mail.last_error


def _deeply_nested(depth: int) -> bytes:
    parts = b"".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode() for i in range(depth))
    return b"From: a@luarong.vn\r\nTo: an@example.vn\r\nSubject: deep\r\nMessage-ID: <deep@luarong.vn>\r\n" + parts


@pytest.mark.parametrize(
    "raw",
    [
        _deeply_nested(3000),
        b"From: a@luarong.vn\r\nTo: a@\r\nMessage-ID: <<<\r\nSubject: x\r\n\r\nbody\r\n",
        b'From: a@luarong.vn\r\nTo: "unterminated <a@b, <<@>>, (comment\r\nSubject: =?x?q?y?=\r\n\r\nbody\r\n',
    ],
    ids=["deeply-nested-multipart", "malformed-message-id", "malformed-to"],
)
async def test_the_mail_catcher_keeps_a_message_it_cannot_parse(raw: bytes, tmp_path: Path) -> None:
    """Low 10: the catcher answered 500 and dropped such a message."""
    async with MailCatcher(directory=tmp_path / "mail") as catcher:
        errors, _ = await aiosmtplib.send(raw, sender="a@luarong.vn", recipients=["an@example.vn"],
                                          hostname="127.0.0.1", port=catcher.port)  # fmt: skip
        assert errors == {}
        [path] = catcher.message_files()
        assert path.read_bytes().endswith(raw.rstrip(b"\r\n") + b"\r\n")  # kept as sent, after the trace headers
        [message] = catcher.messages()
        assert message["X-RcptTo"] == "an@example.vn"
