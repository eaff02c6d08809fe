"""The rule every way in shares (intake.follow_on), seen through mail: a reply to a complaint
whose follow-up has ended (closed, its reopen window over) is filed as a new complaint whose
subject names the earlier case, once however often it is delivered. Real dev server and worker;
the webhooks' side is in tests/test_webhooks.py."""

import uuid
from datetime import timedelta
from email.message import EmailMessage

from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.models import ComplaintState
from intake.filing import complaint_state, file_complaint
from intake.follow_on import follow_on_subject
from intake.mail_intake import MailIntake, Outcome
from tests.conftest import Sessions
from tests.journey import intake, running_worker
from tests.mail_corpus import our_message_id
from tests.test_webhooks import closed_for_good


def reply(references: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Nguyễn Văn An <an.nguyen@example.vn>"
    message["To"] = "khieunai@luarong.vn"
    message["Subject"] = "Re: Đã tiếp nhận"  # no case tag: threaded by References alone
    message["Message-ID"] = f"<{uuid.uuid4()}@example.vn>"
    message["References"] = references
    message.set_content("Mạng lại mất từ hôm qua.")
    return message.as_bytes()


def test_the_subject_names_the_earlier_case_first_and_keeps_to_the_bound() -> None:
    assert follow_on_subject("KN-ABC123", " Livechat #9 ") == "Tiếp theo khiếu nại KN-ABC123: Livechat #9"
    assert follow_on_subject("KN-ABC123", "") == "Tiếp theo khiếu nại KN-ABC123"
    long = follow_on_subject("KN-ABC123", "x" * 300)
    assert len(long) == 200 and long.startswith("Tiếp theo khiếu nại KN-ABC123: x")


async def test_a_mail_reply_after_the_follow_up_ended_files_a_new_complaint_naming_the_case(
    dev_env: WorkflowEnvironment, settings: Settings, sessions: Sessions
) -> None:
    short = settings.model_copy(update={"sla_reopen_window": timedelta(seconds=2)})
    mail = MailIntake(dev_env.client, sessions, short)
    async with running_worker(dev_env.client, short, sessions):
        old = (await file_complaint(dev_env.client, short, intake())).complaint_id
        await closed_for_good(dev_env.client, old)
        raw = reply(our_message_id(old, short.mail_domain))
        late = await mail.take_in(raw, "smtp")
        assert (late.outcome, late.reason) == (Outcome.FILED, "follow_up_ended"), late
        assert late.complaint_id is not None and late.complaint_id != old
        state: ComplaintState = await complaint_state(dev_env.client.get_workflow_handle(late.complaint_id))
        assert state.subject == f"Tiếp theo khiếu nại {old}: Re: Đã tiếp nhận"
        assert state.body == "Mạng lại mất từ hôm qua." and state.customer.email == "an.nguyen@example.vn"
        again = await mail.take_in(raw, "imap")
        assert again.again and again.complaint_id == late.complaint_id
