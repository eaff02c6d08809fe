"""A customer's words for a complaint whose follow-up has ended (closed and its reopen window
over: the workflow has completed) are filed as a new complaint that names the earlier case, so
nothing the customer says is lost. One rule for every way in: mail (intake.mail_intake), livechat
and the generic webhook (admin.services.webhooks).

The caller says what the new complaint is (channel, customer, text, intake key); this module adds
the subject that names the earlier case and files it (intake.filing: once per intake key). The
key is the caller's: livechat and the webhook key the one complaint that follows an ended case
(``follow_on_key``), and the conversation's later messages join it; mail keys each mail by its
Message-ID (a mail is a complaint of its own, and the customer's replies to our receipt of it
thread onto it by that receipt's Message-ID).
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from temporalio.client import Client

from config.settings import Settings
from domain.models import AttachmentRef, ComplaintIntake
from domain.vocabulary import Channel
from intake.customer_messages import MessageOutcome, add_customer_message
from intake.filing import file_complaint
from intake.long_text import LongText

MAX_SUBJECT = 200  # domain.models.ComplaintIntake.subject


def follow_on_subject(earlier: str, subject: str) -> str:
    """The new complaint's subject: first the earlier case's id (kept when the rest is cut)."""
    head = f"Tiếp theo khiếu nại {earlier}"
    subject = subject.strip()
    return (f"{head}: {subject}" if subject else head)[:MAX_SUBJECT]


def follow_on_key(key: str, earlier: str) -> str:
    """The intake key of the one complaint that follows ``earlier`` for a conversation or a sender
    known by ``key``: every later message (a redelivery, two sent at once, the next one) finds
    that complaint instead of filing another."""
    return f"{key}:after:{earlier}"


@dataclass(frozen=True)
class Taken:
    complaint_id: str  # where the words are: the complaint named, or the new one filed for them
    added: MessageOutcome  # ADDED: on the complaint named; otherwise why a new one was filed
    created: bool = False  # a new complaint was filed by this call (False: found filed before)

    @property
    def threaded(self) -> bool:
        return self.added is MessageOutcome.ADDED


# (the earlier complaint's id, the new complaint's text) -> the new complaint
NewComplaint = Callable[[str, str], Awaitable[ComplaintIntake]]


async def add_or_file_anew(
    client: Client,
    settings: Settings,
    complaint_id: str,
    text: str,
    via: Channel,
    *,
    message_id: str,
    new_complaint: NewComplaint | None,
    attachments: Sequence[AttachmentRef] = (),
    reopen_requested: bool = False,
    unknown_files_anew: bool = False,
    long_text: LongText | None = None,
) -> Taken:
    """Add ``text`` to ``complaint_id`` as a customer message; if its follow-up has ended (or,
    with ``unknown_files_anew``, it does not exist), file ``await new_complaint(complaint_id, text)``
    instead, its subject naming the earlier case when there was one. Without ``new_complaint``
    nothing is filed: the outcome says why the words were not added.

    Raises what ``add_customer_message`` and ``file_complaint`` raise, and what ``new_complaint``
    raises (``pydantic.ValidationError`` for an intake the model refuses). An UNKNOWN_COMPLAINT
    without ``unknown_files_anew`` is returned, nothing filed: the caller answers it."""
    added = await add_customer_message(client, complaint_id, text, via, reopen_requested=reopen_requested,
                                       message_id=message_id, attachments=attachments,
                                       long_text=long_text)  # fmt: skip
    ended = added.outcome is MessageOutcome.FOLLOW_UP_ENDED
    if added.outcome is MessageOutcome.ADDED or new_complaint is None or not (ended or unknown_files_anew):
        return Taken(complaint_id, added.outcome)
    # A text too long for the state: filed shortened, its full text following as a file.
    intake = await new_complaint(complaint_id, long_text.body(text) if long_text else text)
    if ended:
        intake = intake.model_copy(update={"subject": follow_on_subject(complaint_id, intake.subject)})
    if long_text is None:
        filed = await file_complaint(client, settings, intake)
    else:
        filed = await long_text.file(client, settings, lambda body: intake.model_copy(update={"body": body}), text)
    return Taken(filed.complaint_id, added.outcome, filed.created)
