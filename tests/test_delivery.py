"""Mail delivery from the outbox (the deliver_mail activity) against a real SMTP server:
retried while the server is down, delivered once, never resent after a cut transfer."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.complaint_steps import ComplaintActivities
from activities.mail_send import MailUnavailable
from config.settings import Settings
from localstack.mailcatcher import MailCatcher
from localstack.ports import free_port
from store import mail_inbox, projection
from store.engine import transaction
from store.tables import OutboxMail
from tests.conftest import Sessions


async def queue(sessions: Sessions, message_id: str) -> None:
    async with transaction(sessions) as session:
        await projection.enqueue_mail(
            session, message_id=message_id, complaint_id="KN-DELIVR", purpose="acknowledgement",
            recipients=["an@example.vn"], subject="[KN-DELIVR] Đã tiếp nhận", body_text="Xin chào",
            body_html="<p>Xin chào</p>", created_at=datetime.now(UTC),
        )  # fmt: skip


async def row(sessions: Sessions, message_id: str) -> OutboxMail:
    async with sessions() as session:
        found = await session.get(OutboxMail, message_id)
        assert found is not None
        return found


async def test_smtp_down_then_back_delivers_exactly_once(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> None:
    port = free_port()
    down = settings.model_copy(update={"smtp_port": port})
    activities = ComplaintActivities(sessions, down)
    env = ActivityEnvironment()
    message_id = "<KN-DELIVR.1.acknowledgement@luarong.vn>"
    await queue(sessions, message_id)

    with pytest.raises(MailUnavailable):
        await env.run(activities.deliver_mail, message_id)
    pending = await row(sessions, message_id)
    assert (pending.status, pending.attempts) == ("pending", 1) and pending.last_error

    with MailCatcher(port=port, directory=tmp_path / "mail") as catcher:
        await env.run(activities.deliver_mail, message_id)
        await env.run(activities.deliver_mail, message_id)  # a retry after success sends nothing
        arrived = [m for m in catcher.messages() if m["Message-ID"] == message_id]
    assert len(arrived) == 1
    sent = await row(sessions, message_id)
    assert (sent.status, sent.attempts) == ("sent", 2) and sent.sent_at is not None


async def test_a_transfer_cut_by_a_crash_is_not_resent(
    settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    message_id = "<KN-DELIVR.2.reply@luarong.vn>"
    await queue(sessions, message_id)
    async with transaction(sessions) as session:  # what a worker killed during DATA leaves behind
        await projection.mark_mail(session, message_id, status="sending", error=None, at=None, attempt=False)
    await ActivityEnvironment().run(ComplaintActivities(sessions, settings).deliver_mail, message_id)
    assert [m for m in catcher.messages() if m["Message-ID"] == message_id] == []
    assert (await row(sessions, message_id)).status == "sent_unconfirmed"


async def test_a_bounce_is_the_last_word_and_never_resent(
    settings: Settings, sessions: Sessions, catcher: MailCatcher
) -> None:
    """A bounce read by the mail intake stays: a late delivery mark does not overwrite it, and a
    retried delivery does not send the mail again."""
    message_id = f"<KN-DELIVR.9.bounce-{datetime.now(UTC).timestamp()}@luarong.vn>"
    await queue(sessions, message_id)
    async with transaction(sessions) as session:
        assert await mail_inbox.mark_bounced(session, message_id, "550 5.1.1 no such user") == "KN-DELIVR"
        await projection.mark_mail(session, message_id, status="sent", error=None, at=datetime.now(UTC))
    found = await row(sessions, message_id)
    assert (found.status, found.last_error) == ("bounced", "550 5.1.1 no such user")
    await ActivityEnvironment().run(ComplaintActivities(sessions, settings).deliver_mail, message_id)
    assert [m for m in catcher.messages() if m["Message-ID"] == message_id] == []
    assert (await row(sessions, message_id)).status == "bounced"
